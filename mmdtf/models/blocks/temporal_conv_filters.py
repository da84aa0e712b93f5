"""The temporal convolutions a DTF block can apply in place of its spectral
filter: the ``DTF_1d`` and ``DTF_1d+`` rows of the paper's table 1a.

Each maps ``y`` (N, C, T, H, W), optionally with the FA correlation ``corr``
(N, k*k, T, H, W), to a feature of the shape of ``y``, zero padded over time.

- :class:`TemporalConvFilter`: ``DTF_1d``, a plain temporal convolution over all
  channels (C -> C, kernel 3), the temporal half of an R(2+1)D block;
  ``channelwise=True`` makes it one kernel per channel (a depth-wise
  convolution; ``filter_type='conv1d_channelwise'``).
- :class:`DynamicTemporalConvFilter`: ``DTF_1d+``, dynamic convolution in 1D: at
  every location a 1x1 convolution estimates, from the same input as DTF's
  filter estimator (``[y, corr]`` flattened over time), one temporal kernel
  per group of ``G`` consecutive channels, applied over time at that
  location.
"""
from typing import Optional

import torch
from torch import nn

from .estimator_input import EstimatorInput


class TemporalConvFilter(nn.Module):
    """``DTF_1d``: a static temporal convolution (kernel ``kernel_size``,
    zero padding, no bias), over all channels or channel-wise."""

    def __init__(self, channels: int, kernel_size: int = 3,
                 channelwise: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (kernel_size, 1, 1),
                              padding=(kernel_size // 2, 0, 0),
                              groups=channels if channelwise else 1,
                              bias=False)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        return self.conv(y)


class DynamicTemporalConvFilter(nn.Module):
    """``DTF_1d+``: per-location temporal kernels estimated from the clip.

    Args:
        channels: ``C``.
        num_frames: ``T``, fixed because the estimator sees all frames.
        group_factor: ``G``; each of the ``C / G`` kernels is shared by ``G``
            consecutive channels, as DTF's filters are.
        corr_channels: channels of the correlation feature (``k*k``), 0 when
            the correlation is not used.
        kernel_size: temporal taps of each kernel (odd).
        estimator_norm: ``'rms'`` (the estimator sees a scale-free input,
            :mod:`.estimator_input`) or ``'none'`` (the raw feature).
    """

    def __init__(self, channels: int, num_frames: int, group_factor: int,
                 corr_channels: int, kernel_size: int = 3,
                 estimator_norm: str = 'rms') -> None:
        super().__init__()
        self.estimator_input = EstimatorInput(estimator_norm)
        self.groups = channels // group_factor
        self.group_factor = group_factor
        self.kernel_size = kernel_size
        self.estimator = nn.Conv2d((channels + corr_channels) * num_frames,
                                   self.groups * kernel_size, 1)

    def estimate(self, y: torch.Tensor,
                 corr: Optional[torch.Tensor]) -> torch.Tensor:
        """The kernels: (N, C/G, 1, kernel_size, 1, H, W), tap ``i`` weighing
        frame ``t + i - kernel_size // 2`` of output frame ``t``."""
        n, _, _, h, w = y.shape
        kernels = self.estimator_input(y, corr, self.estimator)
        return kernels.view(n, self.groups, 1, self.kernel_size, 1, h, w)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        n, c, t, h, w = y.shape
        kernels = self.estimate(y, corr)
        # Channels viewed as (C/G, G): a group's kernel broadcasts over G.
        grouped = y.view(n, self.groups, self.group_factor, t, h, w)
        r = self.kernel_size // 2
        out = grouped * kernels[:, :, :, r]
        # Tap i reads frame t + d (d = i - r); frames outside are zeros, so
        # each tap only adds to the output frames whose input frame exists.
        for i in range(self.kernel_size):
            d = i - r
            if d == 0 or abs(d) >= t:
                continue
            tap = kernels[:, :, :, i]
            if d > 0:
                out[:, :, :, :-d] += grouped[:, :, :, d:] * tap
            else:
                out[:, :, :, -d:] += grouped[:, :, :, :d] * tap
        return out.view(n, c, t, h, w)
