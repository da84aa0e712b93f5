"""What both DTF backbones (``ResNetDTF``, ``SwinDTF``) are, written once:
clips of ``clip_len`` frames, a tubelet stem of ``s = temporal_stride``
frames (kernel = stride = ``s`` in time: their only temporal
down-sampling), so the DTF blocks see ``T = clip_len / s`` frames and start
as the identity."""
from typing import Dict, Optional

import torch

from ..blocks import DTFBlock

CLIP_LEN_KEY = 'model.backbone.clip_len'


def check_clip_len(backbone: str, clip_len: int, temporal_stride: int) -> int:
    """The ``T = clip_len / temporal_stride`` frames the DTF blocks see;
    raises naming both config keys unless the stride divides the clip."""
    if temporal_stride < 1 or clip_len < temporal_stride or \
            clip_len % temporal_stride:
        raise ValueError(
            f'{backbone}: clip_len={clip_len} must be a positive multiple '
            f'of temporal_stride={temporal_stride}; set `{CLIP_LEN_KEY}` '
            'and `model.backbone.temporal_stride`.')
    return clip_len // temporal_stride


class DTFBackbone:
    """Mixin, before MMAction2's backbone in the bases: the clip contract
    and the DTF blocks of a DTF backbone.

    A subclass calls :meth:`set_clip` before its base class builds the stem
    (which reads ``temporal_stride``), builds its DTF blocks with
    :meth:`dtf_block`, calls :meth:`check_clip` first in ``forward`` and
    :meth:`reset_dtf_blocks` in ``init_weights``.
    """

    def set_clip(self, clip_len: int, temporal_stride: int,
                 dtf_cfg: Optional[Dict]) -> None:
        """Check and keep the clip length, the stride and ``dtf_cfg``."""
        self.num_frames = check_clip_len(type(self).__name__, clip_len,
                                         temporal_stride)
        self.clip_len = clip_len
        self.temporal_stride = temporal_stride
        self.dtf_cfg = dict(dtf_cfg or {})

    def dtf_block(self, channels: int) -> DTFBlock:
        """A DTF block of ``dtf_cfg`` on ``channels`` channels and ``T``
        frames; its errors name ``clip_len``'s config key."""
        return DTFBlock(channels, self.num_frames, frames_key=CLIP_LEN_KEY,
                        **self.dtf_cfg)

    def check_clip(self, x: torch.Tensor) -> None:
        """Refuse anything but ``(N, C, clip_len, H, W)`` clips, naming the
        config key."""
        if x.dim() != 5 or x.shape[2] != self.clip_len:
            raise ValueError(
                f'{type(self).__name__} expects clips of shape (N, C, '
                f'T={self.clip_len}, H, W) (format_shape NCTHW), got '
                f'{tuple(x.shape)}; set `{CLIP_LEN_KEY}` to the `clip_len` of '
                'SampleFrames in the pipeline.')

    def reset_dtf_blocks(self) -> None:
        """Every DTF block the identity, so the network starts as its 2D
        self. Neither a 2D checkpoint nor MMEngine's init (it recurses into
        direct children only) reaches the blocks nested in the stages."""
        for module in self.modules():
            if isinstance(module, DTFBlock):
                module.reset_to_identity()

    def train(self, mode: bool = True):
        # MMAction2's backbones keep frozen stages in eval mode but return
        # None; `model.eval()` should return the model, as any nn.Module.
        super().train(mode)
        return self
