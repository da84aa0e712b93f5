"""Grid Pool and GridUnpool (Coarse-Fine Networks, CVPR 2021, Sec. 3.1).

Grid Pool predicts one confidence per coarse interval and turns them into a
sampling grid by inverse transform sampling: intervals of high confidence get
short steps (dense samples), the cumulative sum of the normalised steps is
the grid. Frames are then read at the grid by linear interpolation in time
(identity in space), so the output is differentiable in the confidences.
GridUnpool maps values at the grid positions back onto uniformly spaced
frames by inverting that grid.

Unlike the public code, nothing here assumes CUDA, and a spatial size of 1
works (the public code divides by ``h - 1``).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmaction.registry import MODELS


def confidences_to_grid(confidences: torch.Tensor) -> torch.Tensor:
    """Normalised cumulative grid of K+1 positions in [0, 1] from (B, K)
    confidences in (0, 1); position 0 is 0 and position K is exactly 1.

    A step is ``1 - confidence``: a confident interval is crossed in a short
    step, so more samples land in it.
    """
    if confidences.dim() != 2:
        raise ValueError('confidences must be (batch, K), got shape '
                         f'{tuple(confidences.shape)}')
    steps = 1.0 - confidences
    # Scaling by the largest step first makes equal steps exactly 1, so a
    # constant confidence gives the exact grid k / K (for K a power of 2
    # and every K whose k / K is representable).
    steps = steps / steps.amax(dim=1, keepdim=True).clamp_min(1e-12)
    cumulative = torch.cumsum(steps, dim=1)
    grid = cumulative / cumulative[:, -1:]
    return torch.cat([grid.new_zeros(grid.shape[0], 1), grid], dim=1)


def sample_frames(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Read (B, C, T, H, W) features at (B, N) normalised times in [0, 1]
    (0: first frame, 1: last), linear in time and identity in space.

    The clip is laid out as a (T x 1) image per channel and location, so
    ``grid_sample`` interpolates in time only and never touches space.
    """
    b, c, t, h, w = x.shape
    if grid.dim() != 2 or grid.shape[0] != b:
        raise ValueError(f'grid must be (batch={b}, N), got '
                         f'{tuple(grid.shape)}')
    image = x.permute(0, 1, 3, 4, 2).reshape(b, c * h * w, t, 1)
    rows = grid * 2.0 - 1.0  # align_corners=True: -1 is frame 0, 1 is T-1
    coords = torch.stack([torch.zeros_like(rows), rows], dim=-1)
    out = F.grid_sample(image, coords.unsqueeze(2).to(image.dtype),
                        mode='bilinear', padding_mode='border',
                        align_corners=True)  # (B, CHW, N, 1)
    n = grid.shape[1]
    return out.reshape(b, c, h, w, n).permute(0, 1, 4, 2, 3)


UNPOOL_MODES = ('exact', 'public')


def grid_unpool(values: torch.Tensor, grid: torch.Tensor, out_len: int,
                mode: str = 'exact') -> torch.Tensor:
    """Values (B, C, K+1) known at the (B, K+1) grid positions -> values at
    ``out_len`` uniformly spaced positions, by inverting the grid.

    ``mode='exact'``: each output position q is located in the grid (segment
    k with g_k <= q <= g_k+1), giving its coarse index
    k + (q - g_k) / (g_k+1 - g_k); the values are read there linearly, i.e.
    ``np.interp(q, grid, values)``.

    ``mode='public'``: the public code's: the grid is inverted at the K + 1
    evenly spaced positions only, and the values there are upsampled
    linearly to ``out_len``. Where the grid is uniform both agree; where it
    is not, this blurs the dense regions (each output frame is read between
    its evenly spaced neighbours, not at its place in the grid).
    """
    if mode not in UNPOOL_MODES:
        raise ValueError(f'grid_unpool mode must be one of {UNPOOL_MODES}, '
                         f'got {mode!r}')
    if mode == 'public':
        at_points = grid_unpool(values, grid, values.shape[2])
        if out_len == at_points.shape[2]:
            return at_points
        return F.interpolate(at_points, out_len, mode='linear',
                             align_corners=True)
    if values.dim() != 3 or grid.dim() != 2 or \
            values.shape[::2] != grid.shape:
        raise ValueError('grid_unpool needs values (B, C, K+1) and grid '
                         f'(B, K+1); got {tuple(values.shape)} and '
                         f'{tuple(grid.shape)}')
    b, _, k1 = values.shape
    query = torch.linspace(0, 1, out_len, device=grid.device, dtype=grid.dtype)
    query = query.expand(b, out_len).contiguous()
    seg = torch.searchsorted(grid.detach().contiguous(), query, right=True) - 1
    seg = seg.clamp(0, k1 - 2)
    left = torch.gather(grid, 1, seg)
    right = torch.gather(grid, 1, seg + 1)
    frac = ((query - left) / (right - left).clamp_min(1e-6)).clamp(0, 1)
    coarse = (seg.to(grid.dtype) + frac) / (k1 - 1)  # normalised coarse index
    rows = coarse * 2.0 - 1.0
    coords = torch.stack([torch.zeros_like(rows), rows], dim=-1)
    out = F.grid_sample(values.unsqueeze(-1),
                        coords.unsqueeze(2).to(values.dtype), mode='bilinear',
                        padding_mode='border', align_corners=True)
    return out.squeeze(-1)


@MODELS.register_module()
class GridPool(nn.Module):
    """Learned temporal downsampling of (B, C, T, H, W) to K+1 frames.

    Args:
        in_channels (int): Channels of the feature it pools.
        num_samples (int | None): K, the number of coarse intervals, fixed
            whatever the clip length; the output has K + 1 frames (both ends
            of the clip included). None: K follows the clip, see ``ratio``.
        ratio (int): With ``num_samples=None``, K = ceil(T / ratio): one
            coarse interval per ``ratio`` frames, so a longer test clip at
            the training frame rate keeps the training's coarse rate (the
            public code: 4).
        temporal_strides (tuple[int]): Temporal strides of the confidence
            network's two 3x3x3 convs (paper: 2, 2 for K = T / 4); the result
            is average-pooled to K confidences.
        uniform (bool): Fixed grid k / K (no confidence network): the
            uniform-subsampling baseline at the same K.
        temperature (float): Confidences are ``sigmoid(temperature * logit)``
            (paper: 0.5).
    """

    def __init__(self, in_channels: int, num_samples: Optional[int] = None,
                 temporal_strides=(2, 2), uniform: bool = False,
                 temperature: float = 0.5,
                 norm_cfg=dict(type='BN3d', requires_grad=True),
                 ratio: int = 4):
        super().__init__()
        if num_samples is not None and num_samples < 1:
            raise ValueError(
                f'num_samples (K) must be >= 1 or None, got {num_samples}')
        if ratio < 1:
            raise ValueError(f'ratio must be >= 1, got {ratio}')
        self.num_samples = num_samples
        self.ratio = ratio
        self.uniform = uniform
        self.temperature = temperature
        if uniform:
            return
        st1, st2 = temporal_strides
        self.confidence_net = nn.Sequential(
            ConvModule(in_channels, in_channels, 3, stride=(st1, 2, 2),
                       padding=1, conv_cfg=dict(type='Conv3d'),
                       norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')),
            ConvModule(in_channels, in_channels, 3, stride=(st2, 2, 2),
                       padding=1, conv_cfg=dict(type='Conv3d'),
                       norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')),
            nn.Conv3d(in_channels, 1, (1, 3, 3), stride=(1, 2, 2),
                      padding=(0, 1, 1)))
        # Zero logits at start: constant confidences, i.e. the uniform grid,
        # so training starts from the uniform baseline (the public code
        # starts from a random grid).
        nn.init.zeros_(self.confidence_net[-1].weight)
        nn.init.zeros_(self.confidence_net[-1].bias)

    def intervals(self, clip_len: int) -> int:
        """K for a clip of ``clip_len`` frames."""
        if self.num_samples is not None:
            return self.num_samples
        return -(-clip_len // self.ratio)

    def confidences(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) confidences in (0, 1) for (B, C, T, H, W) features."""
        logits = self.confidence_net(x)
        logits = F.adaptive_avg_pool3d(logits,
                                       (self.intervals(x.shape[2]), 1, 1))
        return torch.sigmoid(self.temperature * logits.flatten(1))

    def forward(self, x: torch.Tensor):
        """Returns the (B, C, K+1, H, W) resampled clip and its (B, K+1)
        grid (normalised times of the samples, for GridUnpool and fusion)."""
        if x.dim() != 5:
            raise ValueError('GridPool expects (B, C, T, H, W), got shape '
                             f'{tuple(x.shape)}')
        if self.uniform:
            grid = torch.linspace(0, 1, self.intervals(x.shape[2]) + 1,
                                  device=x.device,
                                  dtype=x.dtype).expand(x.shape[0], -1)
        else:
            grid = confidences_to_grid(self.confidences(x))
        return sample_frames(x, grid), grid


@MODELS.register_module()
class GridUnpool(nn.Module):
    """Module form of :func:`grid_unpool`: (B, C, K+1) values at the grid ->
    (B, C, out_len) values at uniformly spaced frames.

    Args:
        mode (str): ``'exact'`` or ``'public'`` (see :func:`grid_unpool`).
    """

    def __init__(self, mode: str = 'exact'):
        super().__init__()
        if mode not in UNPOOL_MODES:
            raise ValueError(f'GridUnpool mode must be one of '
                             f'{UNPOOL_MODES}, got {mode!r}')
        self.mode = mode

    def forward(self, values, grid, out_len: int):
        return grid_unpool(values, grid, out_len, self.mode)
