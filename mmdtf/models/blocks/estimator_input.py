"""What the filter estimators of DTF and DTF_1d+ see, made scale-free.

The estimator is a 1x1 convolution over the whole temporal feature at each
location, ``z = concat(y, corr)`` (N, (C + k*k) * T, H, W). Fed raw, the
estimated filter is linear in ``y`` (and ``corr``, a product of two frames,
is quadratic), so the filtered feature ``S * S_c`` grows with the square of
the block's input or faster, every DTF stage compounds it, and short runs
at small batches overflowed to NaN in eval mode
(docs/reports/channel_mixing.md).

``norm='rms'`` divides ``y`` by its root mean square over channels and
frames at each location, and ``corr`` by its square: the estimator then
sees the clip's temporal shape, not its scale, the filter is bounded by the
estimator's weights, and the block's update is linear in its input, like a
convolution's. It is per clip and per location, so it has no batch
statistics (nothing differs between training and eval, or with the batch
size) and no parameters (state dicts are unchanged).
"""
from typing import Optional

import torch
from torch import nn

from .filter_estimation import estimate_filter, inv_rms

ESTIMATOR_NORMS = ('rms', 'none')


def check_estimator_norm(norm: str) -> None:
    if norm not in ESTIMATOR_NORMS:
        raise ValueError(f'DTFBlock estimator_norm must be one of '
                         f'{ESTIMATOR_NORMS}, got {norm!r} (config key '
                         '`dtf_cfg.estimator_norm`).')


class EstimatorInput(nn.Module):
    """``z`` for the estimator's 1x1 convolution: (N, (C + k*k) * T, H, W)
    from ``y`` (N, C, T, H, W) and ``corr`` (N, k*k, T, H, W) or None.

    A module without parameters (state dicts are unchanged), so that its
    element-wise ops are told apart from the filter's own (FLOP counting).
    """

    def __init__(self, norm: str = 'rms') -> None:
        super().__init__()
        check_estimator_norm(norm)
        self.norm = norm

    def forward(self, y: torch.Tensor, corr: Optional[torch.Tensor],
                estimator: Optional[nn.Conv2d] = None) -> torch.Tensor:
        """``z``, or with ``estimator`` the estimator's output
        ``estimator(z)``, computed without building ``z``
        (:func:`.filter_estimation.estimate_filter`). (Run here, in this
        module's call, the FLOP counter tells its ops apart.)
        """
        if estimator is not None and not torch.onnx.is_in_onnx_export():
            return estimate_filter(y, corr, estimator.weight, estimator.bias,
                                   self.norm == 'rms')
        # (ONNX export builds z: the kernels of the split convolution would
        # be reshaped by traced sizes, which exporters cannot take)
        if self.norm == 'rms':
            scale = inv_rms(y)
            y = y * scale.to(y.dtype)
            if corr is not None:
                corr = corr * scale.square().to(corr.dtype)
        z = y if corr is None else torch.cat([y, corr.to(y.dtype)], dim=1)
        n, _, _, h, w = z.shape
        z = z.reshape(n, -1, h, w)
        return z if estimator is None else estimator(z)

    def extra_repr(self) -> str:
        return f'norm={self.norm!r}'
