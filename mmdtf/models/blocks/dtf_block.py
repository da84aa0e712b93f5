"""The Dynamic Temporal Filtering block (spec section 2)."""
from typing import Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import nn

from mmdtf.ops import (check_backend, check_frame_aggregation_input,
                        frame_aggregation)
from .fused_tail import fused_tail, runs_fused_tail
from .spectral_filters import DynamicSpectralFilter, StaticSpectralFilter
from .spectral_transforms import check_spectral_impl
from .temporal_conv_filters import (DynamicTemporalConvFilter,
                                    TemporalConvFilter)

FILTER_TYPES = ('dynamic', 'static', 'conv1d', 'conv1d_channelwise',
                'dynamic_conv1d')
# The named blocks (``dtf_cfg.variant``, spec section 2b): the options each
# one fixes. 'mmdtf' is every option's default (no channel mixing, a
# scale-free estimator input: docs/reports/channel_mixing.md); 'paper' the
# paper's equations as written; 'authors' what FuchenUSTC/DTF's DTFBlock
# computes (docs/models/dtf_blocks.md).
BLOCK_VARIANTS = {
    'mmdtf': dict(estimator_norm='rms', channel_mixing=False,
                  estimator_bias=True, estimator_init='default',
                  filter_sharing='groups', corr_alignment='next'),
    'paper': dict(estimator_norm='none', channel_mixing=False,
                  estimator_bias=True, estimator_init='default',
                  filter_sharing='groups', corr_alignment='next'),
    'authors': dict(estimator_norm='none',
                    channel_mixing=dict(norm='batch_shared', init='random'),
                    estimator_bias=False, estimator_init='kaiming_fan_out',
                    filter_sharing='flat_repeat', corr_alignment='previous'),
}
_DEFAULTS = BLOCK_VARIANTS['mmdtf']
# The options each filter reads, with their defaults (the 'mmdtf' block's).
# An option a filter does not read must stay unset (None): a config that
# sets it expects an effect it would not get.
FILTER_OPTIONS = {
    'dynamic': dict(group_factor=16, use_corr=True, **_DEFAULTS),
    'static': dict(channel_mixing=False),
    'conv1d': dict(),
    'conv1d_channelwise': dict(),
    'dynamic_conv1d': dict(group_factor=16, use_corr=True,
                           estimator_norm='rms', corr_alignment='next'),
}
CORR_ALIGNMENTS = ('next', 'previous')
# Taps of the temporal convolutions of DTF_1d and DTF_1d+ (paper table 1a).
TEMPORAL_KERNEL = 3


@MODELS.register_module()
class DTFBlock(BaseModule):
    """Dynamic Temporal Filtering on a (N, C, T, H, W) feature.

    ``(y, corr) = FA(x)``; ``f' = filter(y, corr)``; ``out = x + gamma * f' +
    beta`` with ``gamma`` and ``beta`` zero-initialised per channel, so a
    freshly built block is the identity.

    ``variant`` names a whole block (spec section 2b,
    docs/models/dtf_blocks.md): ``'mmdtf'`` (every option's default),
    ``'paper'`` (the paper's equations: the estimator fed the raw feature)
    or ``'authors'`` (what the authors' public code computes). A variant
    fixes the options it lists in :data:`BLOCK_VARIANTS` that the filter
    reads; setting one of them to another value raises (a ``_base_``
    config's option would otherwise silently turn the named block into
    another). Without a variant (None) every option is free, at the
    ``'mmdtf'`` default unless set: ablations. The defaults below are the
    ``'mmdtf'`` block's; an option left None takes that default, or the one
    ``variant`` fixes.

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
            default False: the ``'mmdtf'`` and ``'paper'`` blocks have none,
            docs/reports/channel_mixing.md; the ``'authors'`` block has one).
        estimator_norm: ``'rms'`` (default): the filter estimator sees its
            input divided by its root mean square per clip and location, so
            the filter does not grow with the feature; ``'none'``: the raw
            feature, as the paper and the authors' code (dynamic filters
            only; :mod:`.estimator_input`).
        estimator_bias: whether the estimator's 1x1 convolution has a bias
            (default True; the authors' has none). ``'dynamic'`` only.
        estimator_init: ``'default'`` (``nn.Conv2d``'s, unless the backbone
            initialises convolutions itself: ResNetDTF's Kaiming init
            reaches it) or ``'kaiming_fan_out'`` (normal, fan-out, ReLU gain:
            the authors'). ``'dynamic'`` only.
        filter_sharing: how the ``2 * M * C / G`` estimated values become a
            complex filter per channel and bin: ``'groups'`` (default, the
            paper: group ``g``'s filter serves channels ``g*G .. g*G+G-1``)
            or ``'flat_repeat'`` (the authors' code: each value repeated
            ``G`` times along the flattened (channel, bin, real/imag) axis,
            so neighbouring values of the filter are equal and the real and
            imaginary parts mostly too). ``'dynamic'`` only.
        corr_alignment: which FA correlation the estimator sees at frame
            ``t``: ``'next'`` (default, the paper: frame t against t+1, the
            one FA aggregates with) or ``'previous'`` (the authors' code:
            frame t-1 against t, and frame 0 against itself).
        variant: ``None``, ``'mmdtf'``, ``'paper'`` or ``'authors'`` (above).
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
                 estimator_bias: Optional[bool] = None,
                 estimator_init: Optional[str] = None,
                 filter_sharing: Optional[str] = None,
                 corr_alignment: Optional[str] = None,
                 variant: Optional[str] = None,
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
                 estimator_norm=estimator_norm,
                 estimator_bias=estimator_bias,
                 estimator_init=estimator_init,
                 filter_sharing=filter_sharing,
                 corr_alignment=corr_alignment), variant)
        group_factor = options.get('group_factor')
        _check_group_factor(in_channels, num_frames, group_factor,
                            options.get('filter_sharing', 'groups'))
        self.corr_alignment = options.get('corr_alignment', 'next')
        if self.corr_alignment not in CORR_ALIGNMENTS:
            raise ValueError(
                f'DTFBlock corr_alignment must be one of {CORR_ALIGNMENTS}, '
                f'got {self.corr_alignment!r} (config key '
                '`dtf_cfg.corr_alignment`).')
        self.variant = variant
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
                options['estimator_norm'], options['estimator_bias'],
                options['estimator_init'], options['filter_sharing'])
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
        ``use_corr``). Also used by
        tools/visualizations/visualize_filters.py."""
        if not (self.aggregate or self.use_corr):
            return x, None
        if self.use_corr and self.corr_alignment == 'previous':
            # FA of [x_0, x_0, x_1, ..., x_{T-1}]: its correlation at frame
            # t is frame t-1 against t (frame 0 against itself at t = 0),
            # and its frames 1..T are FA of x.
            clip = torch.cat([x[:, :, :1], x], dim=2)
            y_fa, corr = frame_aggregation(clip, self.kernel_size,
                                           self.backend)
            y_fa, corr = y_fa[:, :, 1:], corr[:, :, :-1]
        else:
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
        if runs_fused_tail(self.filter, x):
            return fused_tail(self, x)
        filtered = self.filter(*self.filter_inputs(x))
        # Two passes over the feature rather than three (mul, add, add).
        return torch.addcmul(x, self.gamma, filtered).add_(self.beta)

    def extra_repr(self) -> str:
        variant = '' if self.variant is None else f'variant={self.variant!r}, '
        corr = (f', corr_alignment={self.corr_alignment!r}' if self.use_corr
                else '')
        return (variant +
                f'in_channels={self.in_channels}, num_frames={self.num_frames}'
                f', kernel_size={self.kernel_size}, filter_type='
                f'{self.filter_type!r}, aggregate={self.aggregate}, use_corr='
                f'{self.use_corr}{corr}, backend={self.backend!r}, '
                f'spectral_impl={self.spectral_impl!r}')


def _filter_options(filter_type: str, given: dict,
                    variant: Optional[str] = None) -> dict:
    """The options ``filter_type`` reads, the unset ones at their defaults
    (those of ``variant`` where it names one); an error for one it does not
    read that is set, and for one that contradicts ``variant``."""
    if variant is not None and variant not in BLOCK_VARIANTS:
        raise ValueError(f'DTFBlock variant must be one of '
                         f'{tuple(BLOCK_VARIANTS)} or None, got {variant!r} '
                         '(config key `dtf_cfg.variant`).')
    defaults = dict(FILTER_OPTIONS[filter_type])
    for key, value in given.items():
        if value is not None and key not in defaults:
            readers = [f for f, opts in FILTER_OPTIONS.items() if key in opts]
            raise ValueError(
                f'DTFBlock: {key}={value!r} has no effect with filter_type='
                f'{filter_type!r} (only {readers} read it); remove '
                f'`dtf_cfg.{key}` from the config.')
    for key, fixed in BLOCK_VARIANTS.get(variant, {}).items():
        if key not in defaults:
            continue
        if given[key] is not None and given[key] != fixed:
            raise ValueError(
                f'DTFBlock: variant={variant!r} builds its block with '
                f'{key}={fixed!r}, but `dtf_cfg.{key}` is {given[key]!r}. '
                f'Remove `dtf_cfg.{key}` (or set it to None) for the '
                f'{variant!r} block, or set `dtf_cfg.variant=None` to combine '
                'the options freely.')
        defaults[key] = fixed
    return {key: default if given[key] is None else given[key]
            for key, default in defaults.items()}


def _check_group_factor(channels: int, num_frames: int,
                        group_factor: Optional[int],
                        filter_sharing: str) -> None:
    """``G`` must divide what it splits: the channels (``'groups'``) or the
    ``2 * M * C`` filter values (``'flat_repeat'``)."""
    if group_factor is None:
        return
    if filter_sharing == 'flat_repeat':
        values = 2 * (num_frames // 2 + 1) * channels
        if values % group_factor:
            raise ValueError(
                f'DTFBlock: filter_sharing=\'flat_repeat\' repeats each '
                f'estimated value group_factor={group_factor} times over the '
                f'2 * {num_frames // 2 + 1} bins * {channels} channels = '
                f'{values} filter values, which it does not divide; set '
                '`dtf_cfg.group_factor` to a divisor of that count.')
    elif channels % group_factor:
        raise ValueError(
            f'DTFBlock: in_channels={channels} is not divisible by '
            f'group_factor={group_factor}; set `dtf_cfg.group_factor` to '
            f'a divisor of every DTF stage\'s width.')
