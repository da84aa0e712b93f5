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
import torch.nn.functional as F
from torch import nn

ESTIMATOR_NORMS = ('rms', 'none')
# Added to the mean square: a location whose feature is all zeros (after a
# ReLU) gives zeros, not a division by zero.
EPS = 1e-6


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

    def inv_rms(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 1, 1, H, W): 1 / the root mean square of ``y`` over channels
        and frames, in float32 at least (float16 squares overflow from
        256)."""
        wide = y if y.dtype == torch.float64 else y.float()
        mean_square = wide.square().mean(dim=(1, 2), keepdim=True)
        return mean_square.add_(EPS).rsqrt_()

    def forward(self, y: torch.Tensor, corr: Optional[torch.Tensor],
                estimator: Optional[nn.Conv2d] = None) -> torch.Tensor:
        """``z``, or with ``estimator`` the estimator's output
        ``estimator(z)``, computed without building ``z``: the 1x1
        convolution is split into its ``y`` and ``corr`` columns and the rms
        scaling, one number per clip and location, is applied to their
        (much smaller) outputs; ``y``'s columns are taken in (T, C) order,
        so that ResNetDTF's (N, T, C, H, W) memory is read in place. (Run
        here, in this module's call, the FLOP counter tells its ops apart.)
        """
        if estimator is not None and not torch.onnx.is_in_onnx_export():
            return self._estimate(estimator, y, corr)
        # (ONNX export builds z: the kernels of the split convolution would
        # be reshaped by traced sizes, which exporters cannot take)
        if self.norm == 'rms':
            inv_rms = self.inv_rms(y)
            y = y * inv_rms.to(y.dtype)
            if corr is not None:
                corr = corr * inv_rms.square().to(corr.dtype)
        z = y if corr is None else torch.cat([y, corr.to(y.dtype)], dim=1)
        n, _, _, h, w = z.shape
        z = z.reshape(n, -1, h, w)
        return z if estimator is None else estimator(z)

    def _estimate(self, estimator: nn.Conv2d, y: torch.Tensor,
                  corr: Optional[torch.Tensor]) -> torch.Tensor:
        n, c, t, h, w = y.shape
        weight = estimator.weight.flatten(1)  # (out, (C + k*k) * T)
        out = weight.shape[0]
        w_y = weight[:, :c * t].view(out, c, t).transpose(1, 2)
        w_y = w_y.reshape(out, t * c, 1, 1)
        filt = F.conv2d(y.transpose(1, 2).reshape(n, t * c, h, w), w_y)
        if corr is not None:
            w_c = weight[:, c * t:].reshape(out, -1, 1, 1)
            corr_filt = F.conv2d(corr.reshape(n, -1, h, w).to(y.dtype), w_c)
        if self.norm == 'rms':
            inv_rms = self.inv_rms(y)[:, 0].to(filt.dtype)
            filt = filt.mul_(inv_rms)
            if corr is not None:
                filt = filt.addcmul_(corr_filt, inv_rms.square())
        elif corr is not None:
            filt = filt.add_(corr_filt)
        if estimator.bias is not None:
            filt = filt.add_(estimator.bias.view(1, -1, 1, 1).to(filt.dtype))
        return filt

    def extra_repr(self) -> str:
        return f'norm={self.norm!r}'
