"""mmdtf: Dynamic Temporal Filtering (ECCV 2022) for MMAction2.

Importing it makes the PyPI MMAction2 1.2.0 wheel usable (see
``mmdtf.utils.mmaction_compat``), lets MMEngine checkpoints load under
PyTorch's safe ``weights_only`` loading, and registers ``ResNetDTF``,
``SwinDTF``, ``DTFBlock`` and ``FrameAggregation`` in MMAction2's MODELS.
"""
from .utils import allow_mmengine_checkpoints, patch_missing_drn

patch_missing_drn()  # before anything imports mmaction.models
allow_mmengine_checkpoints()

import mmaction.models  # noqa: E402,F401  (MMAction2's own models, with ours)
from mmaction.registry import MODELS  # noqa: E402

from .models import *  # noqa: E402,F401,F403
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .evaluation import *  # noqa: E402,F401,F403
from .ops import FrameAggregation, frame_aggregation  # noqa: E402
from .version import __version__  # noqa: E402

MODELS.register_module(module=FrameAggregation, force=True)

__all__ = ['frame_aggregation', 'FrameAggregation', '__version__']
