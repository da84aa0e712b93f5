"""X3D with Grid Pool after its first stage and Multi-stage Fusion of
fine-stream features (the coarse stream of Coarse-Fine Networks)."""
from typing import List, Optional

import torch
from mmaction.models.backbones import X3D
from mmaction.registry import MODELS

from ..blocks.grid_pool import GridPool
from ..blocks.multi_stage_fusion import MultiStageFusion

TEMPORAL_POOLS = ('grid', 'uniform', None)


@MODELS.register_module()
class X3DCoarseFine(X3D):
    """MMAction2's X3D (X3D-M defaults) as the Coarse-Fine coarse stream.

    Args:
        temporal_pool (str | None): After ``layer1``: ``'grid'`` (Grid Pool),
            ``'uniform'`` (the same K + 1 frames, evenly spaced: the
            subsampling baseline) or None (keep every frame: the fine stream).
        num_samples (int | None): K, fixed; the coarse stream has K + 1
            frames. None: K = ceil(T / pool_ratio) for a T-frame clip.
        pool_ratio (int): Frames per coarse interval when ``num_samples``
            is None (public code: 4, i.e. K = 16 for 64-frame training clips
            and T / 4 for whole test videos at the same frame rate).
        grid_pool (dict): Extra arguments of :class:`GridPool`.
        fusion (dict | None): Arguments of :class:`MultiStageFusion`; None
            for no fusion. Fusion points are after the temporal pool and
            after each later stage, so ``stage_channels`` are X3D's.
        gamma_w, gamma_b, gamma_d: X3D-M by default (1, 2.25, 2.2).
    """

    def __init__(self, temporal_pool: Optional[str] = 'grid',
                 num_samples: Optional[int] = None, pool_ratio: int = 4,
                 grid_pool: dict = dict(),
                 fusion: Optional[dict] = None, gamma_w: float = 1.0,
                 gamma_b: float = 2.25, gamma_d: float = 2.2, **kwargs):
        if temporal_pool not in TEMPORAL_POOLS:
            raise ValueError(f'temporal_pool must be one of {TEMPORAL_POOLS},'
                             f' got {temporal_pool!r}')
        super().__init__(gamma_w=gamma_w, gamma_b=gamma_b, gamma_d=gamma_d,
                         **kwargs)
        self.stage_channels = [self.base_channels * 2**i
                               for i in range(self.num_stages)]
        self.grid_pool = None
        if temporal_pool is not None:
            self.grid_pool = GridPool(self.stage_channels[0], num_samples,
                                      uniform=temporal_pool == 'uniform',
                                      ratio=pool_ratio, **grid_pool)
        self.fusion = None
        if fusion is not None:
            fusion = dict(fusion)
            fusion.setdefault('stage_channels', self.stage_channels)
            fusion.setdefault('fine_channels', self.stage_channels)
            self.fusion = MultiStageFusion(**fusion)

    def init_weights(self):
        X3D.init_weights(self)
        if self.grid_pool is not None and not self.grid_pool.uniform:
            last = self.grid_pool.confidence_net[-1]  # uniform grid at start
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)

    def forward_levels(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Every stage's output and conv5's, no temporal pooling: the
        multi-level features the fine stream hands to the coarse one."""
        x = self.conv1_t(self.conv1_s(x))
        levels = []
        for name in self.res_layers:
            x = getattr(self, name)(x)
            levels.append(x)
        levels.append(self.conv5(x))
        return levels

    def forward(self, x: torch.Tensor,
                fine_feats: Optional[List[torch.Tensor]] = None,
                fine_mask: Optional[torch.Tensor] = None,
                clip_span: Optional[torch.Tensor] = None):
        """Returns ``(features, grid, weights)``: conv5 features
        (B, C, K+1, H, W), the (B, K+1) Grid Pool grid (None without temporal
        pooling) and the (B, Tf, K+1) alignment weights (None without
        fusion).

        ``clip_span`` (B, 2) places the clip on the fine time axis: its first
        frame and its first-to-last span, both in fine-feature frames.
        """
        x = self.conv1_t(self.conv1_s(x))
        x = self.layer1(x)
        grid = weights = None
        if self.grid_pool is not None:
            x, grid = self.grid_pool(x)
        if self.fusion is not None:
            if fine_feats is None or fine_mask is None or clip_span is None:
                raise ValueError(
                    'X3DCoarseFine with fusion needs fine_feats, fine_mask and'
                    ' clip_span (the dataset with with_fine_features=True and'
                    ' LoadFineFeatures in the pipeline); set '
                    'model.backbone.fusion=None for the coarse stream alone')
            times = grid if grid is not None else torch.linspace(
                0, 1, x.shape[2], device=x.device).expand(x.shape[0], -1)
            centers = clip_span[:, :1] + times * clip_span[:, 1:]
            shifts, scales, weights = self.fusion.align(
                fine_feats[:self.num_stages], fine_mask, centers)
            x = self.fusion.mix(x, 0, shifts, scales)
        for i, name in enumerate(self.res_layers[1:], start=1):
            x = getattr(self, name)(x)
            if self.fusion is not None:
                x = self.fusion.mix(x, i, shifts, scales)
        return self.conv5(x), grid, weights
