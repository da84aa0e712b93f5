"""The Dynamic Temporal Filtering block (spec section 2)."""
from typing import Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import nn

from mmdtf.ops import (check_backend, check_frame_aggregation_input,
                        frame_aggregation)
from .temporal_filters import (DynamicSpectralFilter, StaticSpectralFilter,
                               TemporalConvFilter, check_spectral_impl)

FILTER_TYPES = ('dynamic', 'static', 'conv1d')


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
        group_factor: ``G``: channels sharing one dynamic filter.
        filter_type: ``'dynamic'`` (DTF), ``'static'`` (DTF_F) or
            ``'conv1d'`` (DTF_1d), the variants of the paper's table 1.
        aggregate: use FA's aggregated feature (``y = x + agg``); if False
            ``y = x``.
        use_corr: feed FA's correlation to the dynamic filter estimator.
        channel_mixing: complex channel mixing + non-affine BN after the
            spectral modulation (spectral filters only).
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
                 group_factor: int = 16,
                 filter_type: str = 'dynamic',
                 aggregate: bool = True,
                 use_corr: bool = True,
                 channel_mixing: bool = True,
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
        if filter_type == 'dynamic' and in_channels % group_factor:
            raise ValueError(
                f'DTFBlock: in_channels={in_channels} is not divisible by '
                f'group_factor={group_factor}; set `dtf_cfg.group_factor` to '
                f'a divisor of every DTF stage\'s width.')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.kernel_size = kernel_size
        self.filter_type = filter_type
        self.aggregate = aggregate
        self.use_corr = use_corr and filter_type == 'dynamic'
        self.backend = backend
        self.spectral_impl = spectral_impl
        self.frames_key = frames_key

        if filter_type == 'dynamic':
            self.filter = DynamicSpectralFilter(
                in_channels, num_frames, group_factor,
                kernel_size**2 if self.use_corr else 0, channel_mixing,
                spectral_impl)
        elif filter_type == 'static':
            self.filter = StaticSpectralFilter(in_channels, num_frames,
                                               channel_mixing, spectral_impl)
        else:
            self.filter = TemporalConvFilter(in_channels)
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
