"""Frame-wise Aggregation (spec section 1) written as literally as possible."""
from typing import Tuple

import torch
import torch.nn.functional as F


def naive_frame_aggregation(x: torch.Tensor,
                            kernel_size: int) -> Tuple[torch.Tensor,
                                                       torch.Tensor]:
    """``(y, corr)`` of FA over ``x`` (N, C, T, H, W), in float64-friendly
    plain autograd: a loop over frames and ``F.unfold``, which materialises
    the k*k neighbourhood of every next-frame pixel (a k*k-times copy)."""
    n, c, t, h, w = x.shape
    r = kernel_size // 2
    k2 = kernel_size * kernel_size
    corr = x.new_zeros(n, k2, t, h, w)
    agg = torch.zeros_like(x)
    for ti in range(t - 1):
        nxt = F.unfold(x[:, :, ti + 1], kernel_size, padding=r)
        nxt = nxt.view(n, c, k2, h, w)  # j = (dy + r) * k + (dx + r)
        corr[:, :, ti] = (x[:, :, ti, None] * nxt).sum(1) / c
        attn = corr[:, :, ti].softmax(1)
        agg[:, :, ti] = (attn[:, None] * nxt).sum(2)
    return x + agg, corr
