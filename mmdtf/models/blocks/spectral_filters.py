"""The spectral filters of a DTF block (spec section 2 and table 1).

Each maps ``y`` (N, C, T, H, W), optionally with the FA correlation ``corr``
(N, k*k, T, H, W), to the filtered feature ``f'`` of the shape of ``y``:

- :class:`DynamicSpectralFilter`: DTF. A 1x1 convolution estimates, at every
  location, a complex filter per group of channels from the whole temporal
  feature; the spectrum of ``y`` is multiplied by it.
- :class:`StaticSpectralFilter`: ``DTF_F``, one learned filter per channel,
  the same everywhere.

Both may mix channels after the modulation (:mod:`.spectral_channel_mixing`).
"""
from typing import Optional

import torch
from torch import nn

from .estimate_and_modulate import estimate_and_modulate_op
from .estimator_input import EstimatorInput
from .filter_estimation import estimated_as_operator
from .spectral_channel_mixing import build_channel_mixing
from .spectral_modulation import (complex_mul, modulated_spectrum,
                                  spectral_modulation)
from .spectral_transforms import (SPECTRAL_TRANSFORMS, Spectrum,
                                  check_spectral_impl)


class DynamicSpectralFilter(nn.Module):
    """DTF's filter: per-location complex filters estimated from the clip.

    Args:
        channels: ``C``.
        num_frames: ``T``, fixed because the estimator sees all frames.
        group_factor: ``G``; each of the ``C / G`` filters is shared by ``G``
            consecutive channels.
        corr_channels: channels of the correlation feature (``k*k``), 0 when
            the correlation is not used.
        channel_mixing: :class:`SpectralChannelMixing` after the
            modulation: False, True or a dict of its options
            (:func:`.spectral_channel_mixing.build_channel_mixing`).
        spectral_impl: ``'matmul'`` (the DFT as a matrix product, faster
            and ONNX-exportable) or ``'fft'``; the attribute may be changed
            later.
        estimator_norm: ``'rms'`` (the estimator sees a scale-free input,
            :mod:`.estimator_input`) or ``'none'`` (the raw feature).
        estimator_bias: whether the estimator convolution has a bias.
        estimator_init: ``'default'`` (``nn.Conv2d``'s) or
            ``'kaiming_fan_out'`` (normal, fan-out, ReLU gain: the
            authors').
        filter_sharing: ``'groups'`` (G consecutive channels share a
            filter) or ``'flat_repeat'`` (the authors' expansion, see
            :meth:`estimate`).
    """
    SHARINGS = ('groups', 'flat_repeat')
    INITS = ('default', 'kaiming_fan_out')

    def __init__(self, channels: int, num_frames: int, group_factor: int,
                 corr_channels: int, channel_mixing: bool,
                 spectral_impl: str = 'matmul',
                 estimator_norm: str = 'rms', estimator_bias: bool = True,
                 estimator_init: str = 'default',
                 filter_sharing: str = 'groups') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        for key, value, allowed in (
                ('filter_sharing', filter_sharing, self.SHARINGS),
                ('estimator_init', estimator_init, self.INITS)):
            if value not in allowed:
                raise ValueError(
                    f'DTFBlock {key} must be one of {allowed}, got '
                    f'{value!r} (config key `dtf_cfg.{key}`).')
        self.estimator_input = EstimatorInput(estimator_norm)
        self.spectral_impl = spectral_impl
        self.filter_sharing = filter_sharing
        self.group_factor = group_factor
        self.num_frames = num_frames
        self.num_bins = num_frames // 2 + 1
        # 'groups': C/G filters, each shared by G channels; 'flat_repeat':
        # one filter per channel, made of the C/G filters' worth of values
        # repeated G times each
        self.shared_by = group_factor if filter_sharing == 'groups' else 1
        self.groups = channels // self.shared_by
        in_channels = (channels + corr_channels) * num_frames
        self.estimator = nn.Conv2d(
            in_channels, 2 * self.num_bins * channels // group_factor, 1,
            bias=bool(estimator_bias))
        if estimator_init == 'kaiming_fan_out':
            nn.init.kaiming_normal_(self.estimator.weight, mode='fan_out',
                                    nonlinearity='relu')
            if self.estimator.bias is not None:
                nn.init.zeros_(self.estimator.bias)
        self.mixing = build_channel_mixing(channels, channel_mixing)

    def estimate(self, y: torch.Tensor,
                 corr: Optional[torch.Tensor]) -> Spectrum:
        """The filter: a pair of (N, C/G, 1, M, H, W) tensors (``'groups'``),
        or of (N, C, 1, M, H, W) (``'flat_repeat'``).

        ``'groups'``: output channel ``p * (C/G * M) + g * M + m`` of the
        estimator is part ``p`` (real, imaginary) of group ``g``'s filter at
        bin ``m``. ``'flat_repeat'``: output channel ``o`` fills the ``G``
        consecutive entries ``o * G .. o * G + G - 1`` of the filter
        flattened as (channel, bin, part).
        """
        n, _, _, h, w = y.shape
        filt = self.estimator_input(y, corr, self.estimator)
        if self.filter_sharing == 'flat_repeat':
            filt = filt.repeat_interleave(self.group_factor, dim=1)
            filt = filt.view(n, self.groups, 1, self.num_bins, 2, h, w)
            return filt[:, :, :, :, 0], filt[:, :, :, :, 1]
        filt = filt.view(n, 2, self.groups, 1, self.num_bins, h, w)
        return filt[:, 0], filt[:, 1]

    def _as_one_operator(self, y: torch.Tensor) -> bool:
        """Whether the estimate and the modulation run as one operator
        (:mod:`.estimate_and_modulate`): while compiling, where each would
        otherwise be an operator of its own."""
        return (self.mixing is None and self.filter_sharing == 'groups'
                and self.spectral_impl == 'matmul'
                and estimated_as_operator(y))

    def extra_repr(self) -> str:
        return (f'group_factor={self.group_factor}, filter_sharing='
                f'{self.filter_sharing!r}')

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        if self._as_one_operator(y):
            out, _ = estimate_and_modulate_op(
                y, corr, self.estimator.weight, self.estimator.bias,
                self.estimator_input.norm == 'rms', self.groups)
            return out
        filt = self.estimate(y, corr)
        if self.mixing is None:
            return spectral_modulation(y, *filt, self.spectral_impl)
        spec = modulated_spectrum(y, filt, self.spectral_impl)
        spec = self.mixing(spec, self.num_frames)
        inverse_transform = SPECTRAL_TRANSFORMS[self.spectral_impl][1]
        return inverse_transform(spec, self.num_frames, y.dtype)


class StaticSpectralFilter(nn.Module):
    """``DTF_F``: a learned frequency filter per channel, location-invariant."""

    def __init__(self, channels: int, num_frames: int,
                 channel_mixing: bool,
                 spectral_impl: str = 'matmul') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        self.spectral_impl = spectral_impl
        self.num_frames = num_frames
        bins = num_frames // 2 + 1
        # All-pass start: the modulation initially passes the spectrum
        # through (the channel mixing's norm, when on, still normalises it).
        self.filter_real = nn.Parameter(torch.ones(channels, bins, 1, 1))
        self.filter_imag = nn.Parameter(torch.zeros(channels, bins, 1, 1))
        self.mixing = build_channel_mixing(channels, channel_mixing)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        forward_transform, inverse_transform = SPECTRAL_TRANSFORMS[
            self.spectral_impl]
        spec = forward_transform(y)
        filt = (self.filter_real.to(spec[0].dtype),
                self.filter_imag.to(spec[0].dtype))
        spec = complex_mul(spec, filt)
        if self.mixing is not None:
            spec = self.mixing(spec, self.num_frames)
        return inverse_transform(spec, y.shape[2], y.dtype)


def set_spectral_impl(model: nn.Module, spectral_impl: str) -> int:
    """Switch every spectral filter (and DTF block) inside ``model`` to
    ``spectral_impl``; returns how many filters were switched."""
    check_spectral_impl(spectral_impl)
    switched = 0
    for module in model.modules():
        if hasattr(module, 'spectral_impl'):
            module.spectral_impl = spectral_impl
            switched += isinstance(module, (DynamicSpectralFilter,
                                            StaticSpectralFilter))
    return switched
