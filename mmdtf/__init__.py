"""mmdtf: Dynamic Temporal Filtering (ECCV 2022) for MMAction2.

Importing it fixes the upstream defects listed in ``mmdtf.compat`` where the
installed MMAction2/MMEngine/PyTorch have them (``mmdtf.compat.applied()``
says which), and registers ``ResNetDTF``, ``SwinDTF``, ``DTFBlock`` and
``FrameAggregation`` in MMAction2's MODELS.
"""
from .utils.quiet_warnings import silence_known_warnings

silence_known_warnings()  # before mmcv and mmengine are first imported

from . import compat  # noqa: E402

compat.apply_all()  # before anything imports mmaction.models

import mmaction.models  # noqa: E402,F401  (MMAction2's own models, with ours)
from mmaction.registry import MODELS  # noqa: E402

from .models import *  # noqa: E402,F401,F403
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .ops import FrameAggregation, frame_aggregation  # noqa: E402
from .version import __version__  # noqa: E402

MODELS.register_module(module=FrameAggregation, force=True)

__all__ = ['frame_aggregation', 'FrameAggregation', '__version__']
