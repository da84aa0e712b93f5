"""bfloat16 mixed precision training that also runs on CPUs.

MMEngine 0.10's ``AmpOptimWrapper`` (what ``tools/train.py --amp`` selects)
refuses to start without a GPU, NPU, MLU or MUSA device (``assert
is_cuda_available() or ...``), although ``mmengine.runner.amp.autocast``,
which it uses, supports CPUs with ``bfloat16``. ``AutocastOptimWrapper`` runs
the forward pass and loss under that autocast and leaves everything else to
``OptimWrapper``: no loss scaling, which ``bfloat16`` (float32's exponent
range) does not need. On GPUs use ``AmpOptimWrapper``, with ``float16`` and
loss scaling or with ``bfloat16``.
"""
from contextlib import contextmanager

import torch
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from torch import nn


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under ``bfloat16`` autocast.

    Example::

        optim_wrapper = dict(
            type='AutocastOptimWrapper',
            dtype='bfloat16',
            optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))

    Args:
        dtype (str | torch.dtype): The autocast dtype; only ``bfloat16``
            (``float16`` needs loss scaling: use ``AmpOptimWrapper`` on a
            GPU). Defaults to ``'bfloat16'``.
        **kwargs: Keyword arguments of ``OptimWrapper``.
    """

    def __init__(self, dtype='bfloat16', **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, dtype)
        if dtype is not torch.bfloat16:
            raise ValueError(
                f'AutocastOptimWrapper supports dtype=bfloat16 only, got '
                f'{dtype!r}: float16 needs loss scaling, use '
                "`optim_wrapper = dict(type='AmpOptimWrapper', "
                "dtype='float16', ...)` on a GPU.")
        super().__init__(**kwargs)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), autocast(dtype=self.cast_dtype):
            yield
