"""TIN (Temporal Interlacing Network, AAAI 2020) on ``mmdtf.ops.tin_shift``.

MMAction2's ``ResNetTIN`` is the model, but its ``linear_sampler`` imports
``mmcv.ops.tin_shift`` at call time: a compiled CUDA-only op that
``mmcv-lite`` lacks, with a wrong backward (see ``mmdtf.ops.tin_shift``).
:class:`ResNetTINShift` is ``ResNetTIN`` with only the interlace's forward
replaced (it shifts with ``tin_shift``), so its parameters, their names and
their initialisation are MMAction2's: TIN checkpoints of MMAction2 load
unchanged. ``ResNetTINTorch``, its old name, stays registered.

TIN paper, section 3: before ``conv1`` of every residual block, the first
``C / shift_div`` channels (``folds``) form 4 groups; OffsetNet gives two
offsets ``o1, o2`` in (-2, 2) per clip, the groups move by ``o1, o2, -o1,
-o2`` frames (linear interpolation between the two whole-frame shifts
around each offset), and WeightNet scales each frame of the moved groups by
``w1, w2, w1, w2`` in (0, 2). The other channels pass unchanged.
"""
import torch
from mmaction.models.backbones.resnet_tin import (CombineNet, ResNetTIN,
                                                  TemporalInterlace)
from mmaction.registry import MODELS

from ...ops import tin_shift
from ..weights.resnet2d import ResNet2dInit

#: TemporalInterlace: 2 offsets (OffsetNet) and their negatives
INTERLACE_GROUPS = 4


def temporal_linear_sampler(x: torch.Tensor,
                            offset: torch.Tensor) -> torch.Tensor:
    """Move channel group ``g`` of clip ``n`` by the real ``offset[n, g]``.

    Linear interpolation between the whole-frame shifts ``floor(offset)`` and
    ``floor(offset) + 1``; the gradient reaches ``offset`` through the
    interpolation weights (TIN paper, section 3).

    Args:
        x: ``(N, T, C, HW)``.
        offset: ``(N, G)`` real offsets in frames, ``C`` a multiple of ``G``.
    """
    channels, groups = x.shape[2], offset.shape[1]
    floor = offset.detach().floor()
    frac = (offset - floor).repeat_interleave(channels // groups, dim=1)
    frac = frac[:, None, :, None].to(x.dtype)  # (N, 1, C, 1)
    below = tin_shift(x, floor.long())
    above = tin_shift(x, floor.long() + 1)
    return below * (1 - frac) + above * frac


class TemporalInterlaceShift(TemporalInterlace):
    """MMAction2's ``TemporalInterlace`` (same OffsetNet and WeightNet) with a
    forward on :func:`temporal_linear_sampler`.

    Unlike MMAction2's forward, it keeps the input's dtype (theirs writes
    into a float32 buffer) and writes nothing in place.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_segments
        folds = c // self.shift_div
        if nt % t:
            raise ValueError(
                f'TIN: {nt} frames in the batch are not whole clips of '
                f'num_segments = {t} frames; set model.backbone.num_segments '
                'to the number of frames per clip (num_clips of '
                'SampleFrames).')
        if folds % INTERLACE_GROUPS:
            raise ValueError(
                f'TIN: C / shift_div = {c} // {self.shift_div} = {folds} '
                f'channels must split into {INTERLACE_GROUPS} interlace '
                'groups; change model.backbone.shift_div.')
        moved, kept = x[:, :folds], x[:, folds:]
        clips = moved.reshape(nt // t, t, folds, h * w)
        pooled = clips.mean(3).transpose(1, 2)  # (N, folds, T)
        offset = self.offset_net(pooled).view(nt // t, -1)  # (N, 2)
        weight = self.weight_net(pooled)  # (N, T, 2)
        offset = torch.cat([offset, -offset], 1)  # groups o1, o2, -o1, -o2
        weight = weight.repeat(1, 1, 2)  # groups w1, w2, w1, w2
        weight = weight.repeat_interleave(folds // INTERLACE_GROUPS, dim=2)
        moved = temporal_linear_sampler(clips, offset)
        moved = moved * weight[..., None].to(moved.dtype)
        return torch.cat([moved.reshape(nt, folds, h, w), kept], 1)


@MODELS.register_module()
@MODELS.register_module(name='ResNetTINTorch')  # the old name
class ResNetTINShift(ResNet2dInit, ResNetTIN):
    """MMAction2's ``ResNetTIN`` on ``mmdtf.ops.tin_shift``: CPU and GPU, any
    floating dtype, the true gradient of the shift.

    Same arguments and ``state_dict`` as ``ResNetTIN``: an MMAction2 TIN
    config runs on it with ``model.backbone.type='ResNetTINShift'`` (and
    ``custom_imports`` of ``mmdtf``). Its 2D ``pretrained`` may be in
    torchvision, timm or MMPretrain key format (:class:`ResNet2dInit`).
    """

    def make_temporal_interlace(self) -> None:
        super().make_temporal_interlace()
        for module in self.modules():
            if isinstance(module, CombineNet):
                # Swap the class only: the module keeps its parameters, their
                # initialisation and state_dict keys; the forward is ours.
                module.net1.__class__ = TemporalInterlaceShift


#: the old name, for code that imports it
ResNetTINTorch = ResNetTINShift

__all__ = ['ResNetTINShift', 'ResNetTINTorch', 'TemporalInterlaceShift',
           'temporal_linear_sampler']
