"""The Dynamic Temporal Filtering block (spec section 2)."""
from typing import Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import nn

from mmdtf.ops import (check_backend, check_frame_aggregation_input,
                        frame_aggregation)
from .spectral_filters import DynamicSpectralFilter, StaticSpectralFilter
from .spectral_transforms import check_spectral_impl
from .temporal_conv_filters import (DynamicTemporalConvFilter,
                                    TemporalConvFilter)

FILTER_TYPES = ('dynamic', 'static', 'conv1d', 'conv1d_channelwise',
                'dynamic_conv1d')
# The options each filter reads, with their defaults. An option a filter does
# not read must stay unset (None): a config that sets it expects an effect
# it would not get.
FILTER_OPTIONS = {
    # no channel mixing by default: docs/channel_mixing.md
    'dynamic': dict(group_factor=16, use_corr=True, channel_mixing=False,
                    estimator_norm='rms'),
    'static': dict(channel_mixing=False),
    'conv1d': dict(),
    'conv1d_channelwise': dict(),
    'dynamic_conv1d': dict(group_factor=16, use_corr=True,
                           estimator_norm='rms'),
}
# Taps of the temporal convolutions of DTF_1d and DTF_1d+ (paper table 1a).
TEMPORAL_KERNEL = 3


@MODELS.register_module()
class DTFBlock(BaseModule):
    """Dynamic Temporal Filtering on a (N, C, T, H, W) feature.

    ``(y, corr) = FA(x)``; ``f' = filter(y, corr)``; ``out = x + gamma * f' +
    beta`` with ``gamma`` and ``beta`` zero-initialised per channel, so a
    freshly built block is the identity.

    Args:
        in_channels: ``C``.
        num_frames: ``T`` the block is built for (the filter estimator sees
            all frames, so it is fixed).
        kernel_size: FA neighbourhood ``k`` (odd).
        group_factor: ``G``: channels sharing one dynamic filter (dynamic
            filters only; default 16).
        filter_type: the variants of the paper's table 1a:
            ``'dynamic'`` (DTF), ``'static'`` (DTF_F: one learned frequency
            filter per channel), ``'conv1d'`` (DTF_1d: a temporal
            convolution over all channels, kernel 3, R(2+1)D style),
            ``'dynamic_conv1d'`` (DTF_1d+: a kernel-3 temporal convolution
            estimated per location and channel group, from the input of
            DTF's estimator), and ``'conv1d_channelwise'`` (not in the
            paper: a kernel-3 temporal convolution per channel).
        aggregate: use FA's aggregated feature (``y = x + agg``); if False
            ``y = x``.
        use_corr: feed FA's correlation to the filter estimator (dynamic
            filters only; default True).
        channel_mixing: complex channel mixing after the spectral
            modulation: False, True or a dict of
            :class:`SpectralChannelMixing` options (spectral filters only;
            default True).
        estimator_norm: ``'rms'`` (default): the filter estimator sees its
            input divided by its root mean square per clip and location, so
            the filter does not grow with the feature; ``'none'``: the raw
            feature, as the reference code (dynamic filters only;
            :mod:`.estimator_input`).
        backend: FA backend, ``'auto'``, ``'torch'`` or ``'cupy'``.
        spectral_impl: how the spectral filters transform over time:
            ``'matmul'`` (the DFT as a product with cached matrices: faster
            on every shape measured, and exports to ONNX) or ``'fft'``
            (``torch.fft``); the same values up to rounding.
        frames_key: the config key that sets ``num_frames``, named in errors.
    """

    def __init__(self,
                 in_channels: int,
                 num_frames: int,
                 kernel_size: int = 3,
                 group_factor: Optional[int] = None,
                 filter_type: str = 'dynamic',
                 aggregate: bool = True,
                 use_corr: Optional[bool] = None,
                 channel_mixing=None,
                 estimator_norm: Optional[str] = None,
                 backend: str = 'auto',
                 spectral_impl: str = 'matmul',
                 frames_key: str = 'num_frames',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_frame_aggregation_input(torch.empty(1, 1, 1, 1, 1), kernel_size)
        if filter_type not in FILTER_TYPES:
            raise ValueError(f'DTFBlock filter_type must be one of '
                             f'{FILTER_TYPES}, got {filter_type!r} (config '
                             'key `dtf_cfg.filter_type`).')
        check_backend(backend)
        check_spectral_impl(spectral_impl)
        if num_frames < 1:
            raise ValueError(f'DTFBlock needs num_frames >= 1, got '
                             f'{num_frames} (config key `{frames_key}`).')
        options = _filter_options(
            filter_type,
            dict(group_factor=group_factor, use_corr=use_corr,
                 channel_mixing=channel_mixing,
                 estimator_norm=estimator_norm))
        group_factor = options.get('group_factor')
        if group_factor is not None and in_channels % group_factor:
            raise ValueError(
                f'DTFBlock: in_channels={in_channels} is not divisible by '
                f'group_factor={group_factor}; set `dtf_cfg.group_factor` to '
                f'a divisor of every DTF stage\'s width.')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.kernel_size = kernel_size
        self.filter_type = filter_type
        self.aggregate = aggregate
        self.use_corr = bool(options.get('use_corr'))
        self.backend = backend
        self.spectral_impl = spectral_impl
        self.frames_key = frames_key

        corr_channels = kernel_size**2 if self.use_corr else 0
        if filter_type == 'dynamic':
            self.filter = DynamicSpectralFilter(
                in_channels, num_frames, group_factor, corr_channels,
                options['channel_mixing'], spectral_impl,
                options['estimator_norm'])
        elif filter_type == 'static':
            self.filter = StaticSpectralFilter(in_channels, num_frames,
                                               options['channel_mixing'],
                                               spectral_impl)
        elif filter_type == 'dynamic_conv1d':
            self.filter = DynamicTemporalConvFilter(
                in_channels, num_frames, group_factor, corr_channels,
                TEMPORAL_KERNEL, options['estimator_norm'])
        else:
            self.filter = TemporalConvFilter(
                in_channels, TEMPORAL_KERNEL,
                channelwise=filter_type == 'conv1d_channelwise')
        self.gamma = nn.Parameter(torch.zeros(1, in_channels, 1, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, in_channels, 1, 1, 1))

    def init_weights(self) -> None:
        super().init_weights()
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Zero ``gamma`` and ``beta``: the block becomes the identity, so an
        ImageNet-initialised network starts as its 2D self."""
        nn.init.zeros_(self.gamma)
        nn.init.zeros_(self.beta)

    def filter_inputs(
            self, x: torch.Tensor) -> Tuple[torch.Tensor,
                                            Optional[torch.Tensor]]:
        """What the filter sees: ``y`` (FA's aggregated feature, or ``x``
        without aggregation) and FA's correlation (None unless
        ``use_corr``). Also used by tools/visualize_filters.py."""
        if not (self.aggregate or self.use_corr):
            return x, None
        y_fa, corr = frame_aggregation(x, self.kernel_size, self.backend)
        return (y_fa if self.aggregate else x,
                corr if self.use_corr else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'DTFBlock expects (N, C={self.in_channels}, T, H, W), got '
                f'shape {tuple(x.shape)}.')
        if x.shape[2] != self.num_frames:
            raise ValueError(
                f'DTFBlock was built for T={self.num_frames} frames but got a '
                f'clip with T={x.shape[2]} (T counts frames after any '
                'temporal down-sampling before the block); set '
                f'`{self.frames_key}` so that the model is built for the clip '
                'length the pipeline samples.')
        filtered = self.filter(*self.filter_inputs(x))
        # Two passes over the feature rather than three (mul, add, add).
        return torch.addcmul(x, self.gamma, filtered).add_(self.beta)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, num_frames={self.num_frames}'
                f', kernel_size={self.kernel_size}, filter_type='
                f'{self.filter_type!r}, aggregate={self.aggregate}, use_corr='
                f'{self.use_corr}, backend={self.backend!r}, spectral_impl='
                f'{self.spectral_impl!r}')


def _filter_options(filter_type: str, given: dict) -> dict:
    """The options ``filter_type`` reads, the unset ones at their defaults;
    an error for one it does not read that is set."""
    defaults = FILTER_OPTIONS[filter_type]
    for key, value in given.items():
        if value is not None and key not in defaults:
            readers = [f for f, opts in FILTER_OPTIONS.items() if key in opts]
            raise ValueError(
                f'DTFBlock: {key}={value!r} has no effect with filter_type='
                f'{filter_type!r} (only {readers} read it); remove '
                f'`dtf_cfg.{key}` from the config.')
    return {key: default if given[key] is None else given[key]
            for key, default in defaults.items()}
