"""Let MMAction2's recognition heads take bfloat16 scores.

Under bfloat16 autocast (``AutocastOptimWrapper``, or MMEngine's
``AmpOptimWrapper(dtype='bfloat16')`` on GPUs, or ``ValLoop(fp16=True)`` on
CPUs) a head's ``fc_cls`` returns bfloat16 scores, and MMAction2 1.2's
``BaseHead`` hands them to NumPy: ``loss_by_feat`` for its top-k accuracy,
``predict_by_feat`` via ``AccMetric``. NumPy has no bfloat16, so training
and validation fail with ``TypeError: Got unsupported ScalarType
BFloat16``. We cast bfloat16 scores to float32 on their way into these two
methods (the loss is computed in float32 under autocast anyway); other
dtypes pass unchanged.
"""
import functools

import torch
from mmaction.models.heads.base import BaseHead


def _float32_scores(method):

    @functools.wraps(method)
    def wrapper(self, cls_scores, *args, **kwargs):
        if (isinstance(cls_scores, torch.Tensor)
                and cls_scores.dtype == torch.bfloat16):
            cls_scores = cls_scores.float()
        return method(self, cls_scores, *args, **kwargs)

    wrapper._mmdtf_float32_scores = True
    return wrapper


def enable_bfloat16_heads() -> None:
    """Patch ``BaseHead.loss_by_feat`` and ``predict_by_feat`` (idempotent)."""
    for name in ('loss_by_feat', 'predict_by_feat'):
        method = getattr(BaseHead, name)
        if not getattr(method, '_mmdtf_float32_scores', False):
            setattr(BaseHead, name, _float32_scores(method))


__all__ = ['enable_bfloat16_heads']
