"""The temporal convolution filters of the paper's table 1 (``DTF_1d``)."""
from typing import Optional

import torch
from torch import nn


class TemporalConvFilter(nn.Module):
    """``DTF_1d``: a channel-wise temporal convolution (kernel 3, zero pad)."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (kernel_size, 1, 1),
                              padding=(kernel_size // 2, 0, 0),
                              groups=channels, bias=False)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        return self.conv(y)
