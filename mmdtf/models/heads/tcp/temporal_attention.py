"""TCPNet's temporal attention module: TSA, TCA, then a temporal conv."""
from typing import Tuple

import torch.nn.functional as F
from mmengine.model.weight_init import constant_init
from torch import Tensor, nn

from .channel_attention import TemporalChannelAttention
from .self_attention import TemporalSelfAttention


def circular_padding(kernel_size: int) -> Tuple[int, int]:
    """(before, after) padding that keeps T frames under a kernel of any size.

    TCPNet passes ``padding_mode='circular'`` to ``nn.Conv3d`` with a padding
    chosen by ``torch.__version__.split('.')[1] >= '5'``, a string compare
    meant to tell torch >= 1.5 (per-side circular padding) from older torch
    (total padding). It is False for torch 1.10-1.13 and 2.0-2.4, which then
    pad ``k - 1`` per side and output ``T + k - 1`` frames: the reshape back
    to (V*T, ...) fails. We pad explicitly with ``F.pad`` (per side on every
    torch version), ``k // 2`` after and ``(k - 1) // 2`` before, so even
    kernels keep T frames too.
    """
    return (kernel_size - 1) // 2, kernel_size // 2


class TemporalAttention(nn.Module):
    """``relu(x + conv_t(TCA(x, TSA(x))))`` on (V*T, C, H, W).

    The temporal convolution (kernel ``T // 2 + 1`` over time, cyclic, as
    TCPNet) starts at zero weights, so the module is the identity at
    initialisation on the non-negative (post-ReLU) features it receives.
    Without the convolution TCPNet returns the attended features without a
    shortcut; so do we.

    Args:
        channels (int): C.
        num_segments (int): T, frames per clip.
        self_attention (bool): TSA on. Default True.
        channel_attention (bool): TCA on. Default True.
        temporal_conv (bool): the temporal convolution and the shortcut on.
            Default True.
    """

    def __init__(self, channels: int, num_segments: int,
                 self_attention: bool = True, channel_attention: bool = True,
                 temporal_conv: bool = True) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.tsa = (TemporalSelfAttention(channels, num_segments)
                    if self_attention else None)
        self.tca = (TemporalChannelAttention(channels, num_segments)
                    if channel_attention else None)
        self.conv_t = None
        if temporal_conv:
            kernel = num_segments // 2 + 1
            self.padding = circular_padding(kernel)
            self.conv_t = nn.Conv3d(channels, channels, (kernel, 1, 1))
        self.relu = nn.ReLU(inplace=True)
        self.init_weights()

    def init_weights(self) -> None:
        for module in (self.tsa, self.tca):
            if module is not None:
                module.init_weights()
        if self.conv_t is not None:
            constant_init(self.conv_t, 0)  # identity at the start

    def forward(self, x: Tensor) -> Tensor:
        x_att = self.tsa(x) if self.tsa is not None else x
        if self.tca is not None:
            x_att = self.tca(x, x_att)
        if self.conv_t is None:
            return x_att
        n, c, h, w = x.shape
        clips = x_att.view(n // self.num_segments, self.num_segments, c, h,
                           w).transpose(1, 2)  # (V, C, T, H, W)
        clips = F.pad(clips, (0, 0, 0, 0) + self.padding, mode='circular')
        out = self.conv_t(clips).transpose(1, 2).reshape(n, c, h, w)
        return self.relu(out + x)
