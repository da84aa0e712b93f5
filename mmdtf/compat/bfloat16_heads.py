"""Let MMAction2's recognition heads take bfloat16 scores.

Upstream: no MMAction2 issue or fix known (``mmaction/models/heads/base.py``
and ``mmaction/evaluation/functional/accuracy.py`` call ``.numpy()``).
Affects: mmaction2 1.2.0. Detected by probing: a 2-class ``I3DHead``'s
``loss_by_feat`` is given bfloat16 scores; only if it fails are the methods
wrapped.

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

UPSTREAM = 'none filed (mmaction/models/heads/base.py loss_by_feat)'
AFFECTS = 'mmaction2 1.2.0'
_METHODS = ('loss_by_feat', 'predict_by_feat')


def _float32_scores(method):

    @functools.wraps(method)
    def wrapper(self, cls_scores, *args, **kwargs):
        if (isinstance(cls_scores, torch.Tensor)
                and cls_scores.dtype == torch.bfloat16):
            cls_scores = cls_scores.float()
        return method(self, cls_scores, *args, **kwargs)

    wrapper._mmdtf_float32_scores = True
    return wrapper


def defect_present() -> bool:
    """Whether ``BaseHead.loss_by_feat`` fails on bfloat16 scores."""
    from mmaction.models.heads import I3DHead
    from mmaction.structures import ActionDataSample
    head = I3DHead(num_classes=2, in_channels=1)
    samples = [ActionDataSample().set_gt_label(0)]
    try:
        head.loss_by_feat(torch.zeros(1, 2, dtype=torch.bfloat16), samples)
    except TypeError:  # NumPy: Got unsupported ScalarType BFloat16
        return True
    return False


def apply() -> bool:
    """Cast bfloat16 scores to float32 in ``BaseHead.loss_by_feat`` and
    ``predict_by_feat`` if MMAction2 needs it (idempotent); returns whether
    the wrappers are in place."""
    from mmaction.models.heads.base import BaseHead
    if getattr(BaseHead.loss_by_feat, '_mmdtf_float32_scores', False):
        return True
    if not defect_present():
        return False
    for name in _METHODS:
        setattr(BaseHead, name, _float32_scores(getattr(BaseHead, name)))
    return True
