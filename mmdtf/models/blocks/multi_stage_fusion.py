"""Multi-stage Fusion (Coarse-Fine Networks, CVPR 2021, Sec. 3.2).

Fine-stream features (whole video, every ``feature_stride``-th frame) are
fused into the coarse stream in three steps:

1. filtering: a self-attention mask (1x1 convs + sigmoid) says which fine
   locations pass;
2. alignment: a Gaussian centred at each coarse sample's time (its grid
   position) weights the fine frames, so each coarse frame gets a weighted
   average of the filtered fine features around it;
3. mixing: the aligned features of all fine levels are concatenated and
   1x1 convs predict a shift and a sigmoid scale for each coarse stage,
   ``x <- x * scale + shift``.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS


@MODELS.register_module()
class GaussianAlignment(nn.Module):
    """(B, Tf, N) weights of the Tf fine frames for N coarse samples.

    A Gaussian with standard deviation ``sigma_ratio`` x (number of valid
    fine frames) (paper: 1/8) is centred at each coarse sample, in fine-frame
    units, and normalised to a peak of 1 over the valid frames.

    The peak normalisation is done in log space (subtracting the smallest
    squared distance), so a narrow Gaussian between two frames still picks
    the nearest one; the public code divides underflowed zeros by 1e-16.
    """

    def __init__(self, sigma_ratio: float = 1 / 8):
        super().__init__()
        if sigma_ratio <= 0:
            raise ValueError(f'sigma_ratio must be > 0, got {sigma_ratio}')
        self.sigma_ratio = sigma_ratio

    def forward(self, centers: torch.Tensor, fine_mask: torch.Tensor):
        if centers.dim() != 2 or fine_mask.dim() != 2 or \
                centers.shape[0] != fine_mask.shape[0]:
            raise ValueError('GaussianAlignment needs centers (B, N) and '
                             f'fine_mask (B, Tf); got {tuple(centers.shape)} '
                             f'and {tuple(fine_mask.shape)}')
        tf = fine_mask.shape[1]
        t = torch.arange(tf, device=centers.device, dtype=centers.dtype)
        sq = (t.view(1, -1, 1) - centers.unsqueeze(1))**2  # (B, Tf, N)
        valid = fine_mask.unsqueeze(2) > 0
        nearest = sq.masked_fill(~valid, float('inf')).amin(1, keepdim=True)
        sigma = self.sigma_ratio * fine_mask.sum(1).clamp_min(1)
        weights = torch.exp(-(sq - nearest) / (2 * sigma.view(-1, 1, 1)**2))
        return weights * valid


@MODELS.register_module()
class FineFeatureReweighting(nn.Module):
    """Filters one level of fine features, aligns it to the coarse samples
    and predicts a shift and a scale from it (the public ``RewightLayer``).

    Args:
        in_channels (int): Channels of this fine level.
        out_channels (int): Channels of the predicted shift and scale.
        sigmoid_scale (bool): Squash the scale with a sigmoid (used when the
            scale is applied directly, e.g. on logits); mixing layers apply
            their own sigmoid after concatenation, so they take it raw.
        pool_space (bool): Average the aligned features over space before
            the shift and scale MLPs, which then predict one value per coarse
            frame (the public ``RewightLayer(pool=True)``, its logit-level
            fusion ``rw6``); otherwise one per location.
        dropout_ratio (float): Dropout between the two layers of the shift
            and scale MLPs (public: 0.5 with ``pool=True``, none otherwise).
    """

    def __init__(self, in_channels: int, out_channels: int,
                 sigmoid_scale: bool = False, pool_space: bool = False,
                 dropout_ratio: float = 0.0):
        super().__init__()
        self.sigmoid_scale = sigmoid_scale
        self.pool_space = pool_space
        self.attention = nn.Sequential(
            nn.Conv3d(in_channels, in_channels, 1), nn.ReLU(inplace=True),
            nn.Conv3d(in_channels, 1, 1), nn.Sigmoid())
        self.shift = nn.Sequential(
            nn.Conv3d(in_channels, in_channels, 1), nn.ReLU(inplace=True),
            nn.Conv3d(in_channels, out_channels, 1))
        self.scale = nn.Sequential(
            nn.Conv3d(in_channels, in_channels, 1), nn.ReLU(inplace=True),
            nn.Conv3d(in_channels, out_channels, 1))
        # applied between the layers of shift and scale (not a Sequential
        # member, so the parameter names stay shift.0 / shift.2)
        self.dropout = nn.Dropout(dropout_ratio)

    @staticmethod
    def align(fine: torch.Tensor, attention: torch.Tensor,
              weights: torch.Tensor) -> torch.Tensor:
        """(B, C, Tf, h, w) fine features, (B, 1, Tf, h, w) attention and
        (B, Tf, N) alignment weights (zero on padded frames) -> (B, C, N, h, w)
        attention- and Gaussian-weighted averages over the fine frames."""
        att = attention.squeeze(1)
        num = torch.einsum('bcthw,bthw,btn->bcnhw', fine, att, weights)
        den = torch.einsum('bthw,btn->bnhw', att, weights).unsqueeze(1)
        return num / (den + 1e-6)

    def mlp(self, layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """conv -> ReLU -> dropout -> conv."""
        return layers[2](self.dropout(layers[1](layers[0](x))))

    def forward(self, fine: torch.Tensor, weights: torch.Tensor):
        """Returns the (B, out_channels, N, h, w) shift and scale ((B,
        out_channels, N, 1, 1) with ``pool_space``)."""
        if fine.dim() != 5 or fine.shape[2] != weights.shape[1]:
            raise ValueError('fine features must be (B, C, Tf, h, w) with Tf '
                             f'= {weights.shape[1]} (the fine mask length); '
                             f'got {tuple(fine.shape)}')
        attention = self.attention(fine)  # (B, 1, Tf, h, w)
        aligned = self.align(fine, attention, weights)
        if self.pool_space:
            aligned = aligned.mean((3, 4), keepdim=True)
        scale = self.mlp(self.scale, aligned)
        if self.sigmoid_scale:
            scale = torch.sigmoid(scale)
        return self.mlp(self.shift, aligned), scale


@MODELS.register_module()
class MultiStageFusion(nn.Module):
    """Aligns every fine level once per clip, then mixes all of them into
    each coarse stage.

    Args:
        fine_channels (Sequence[int]): Channels of the fine levels (X3D-M:
            layer1..layer4 = 24, 48, 96, 192).
        stage_channels (Sequence[int]): Channels of the coarse features at
            each fusion point (after Grid Pool and after each later stage).
        sigma_ratio (float): Width of the alignment Gaussians.
    """

    def __init__(self, fine_channels: Sequence[int] = (24, 48, 96, 192),
                 stage_channels: Sequence[int] = (24, 48, 96, 192),
                 sigma_ratio: float = 1 / 8):
        super().__init__()
        self.fine_channels = tuple(fine_channels)
        self.alignment = GaussianAlignment(sigma_ratio)
        self.reweight = nn.ModuleList(
            FineFeatureReweighting(c, c) for c in fine_channels)
        total = sum(fine_channels)
        self.mix_shift = nn.ModuleList(
            nn.Conv3d(total, c, 1) for c in stage_channels)
        self.mix_scale = nn.ModuleList(
            nn.Conv3d(total, c, 1) for c in stage_channels)

    def align(self, fine_feats: List[torch.Tensor], fine_mask: torch.Tensor,
              centers: torch.Tensor) -> Tuple[list, list, torch.Tensor]:
        """Shifts and scales of every level at the (B, N) coarse centres (in
        fine-frame units), and the (B, Tf, N) alignment weights."""
        if len(fine_feats) != len(self.reweight):
            raise ValueError(f'expected {len(self.reweight)} fine levels '
                             f'(channels {self.fine_channels}), got '
                             f'{len(fine_feats)}')
        weights = self.alignment(centers, fine_mask)
        shifts, scales = zip(*(rw(f, weights)
                               for rw, f in zip(self.reweight, fine_feats)))
        return list(shifts), list(scales), weights

    def mix(self, x: torch.Tensor, stage: int, shifts: list, scales: list):
        """``x * sigmoid(scale) + shift`` for coarse stage ``stage``.

        Each level's shift and scale are brought to the stage's spatial size
        by adaptive max pooling, as the public ``MixingLayer`` does (with
        7x7 fine features and 224 px clips every size is a multiple of 7,
        and this only repeats values).
        """
        size = x.shape[2:]

        def fit(t):  # fine spatial size -> this stage's
            return t if t.shape[2:] == size else F.adaptive_max_pool3d(t, size)

        shift = self.mix_shift[stage](torch.cat([fit(s) for s in shifts], 1))
        scale = self.mix_scale[stage](torch.cat([fit(s) for s in scales], 1))
        return x * torch.sigmoid(scale) + shift
