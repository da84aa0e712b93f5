"""FA's export form: the PyTorch kernel's forward in out-of-place standard
operators (pad, slices, products, sums, softmax, cat), which exporters can
trace; they cannot look into the registered operator.

The same correlations bit for bit (the same products and sums), the
aggregation up to the rounding of its multiply-adds. Autograd through it
works but keeps one buffer per offset: train with ``frame_aggregation``.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

from .torch_kernel import MemoryLayout, compute_dtype, inside_masks


def frame_aggregation_export(x: torch.Tensor,
                             kernel_size: int) -> Tuple[torch.Tensor,
                                                        torch.Tensor]:
    """FA's forward in standard operators only, for ONNX export: ``(y,
    corr)`` in the dtype of ``x``, ``y`` in its layout."""
    dtype = compute_dtype(x.dtype)
    layout = MemoryLayout(x, kernel_size)
    n, c, t, h, w = x.shape
    xf = layout.flat(x, dtype)
    if t == 1:  # nothing to aggregate
        y, corr = xf.clone(), xf.new_zeros(n, kernel_size**2, t, h * w)
    else:
        query, following, last = layout.split(xf)
        keys = layout.windows(layout.padded(following))
        mask = inside_masks(kernel_size, h, w, dtype, x.device)[:, None]
        logits = torch.stack([
            layout.fmap(query * key).sum(dim=layout.channel_dim).view(
                n, -1, h * w) for key in keys
        ], dim=1)
        logits = logits.div_(c).mul_(mask)  # the channel mean; 0 outside
        attn = logits.softmax(dim=1).mul_(mask)
        agg = layout.fmap(query)  # y = x + agg, offset by offset
        for j, key in enumerate(keys):
            agg = agg + layout.per_pixel(attn[:, j]) * layout.fmap(key)
        y = torch.cat([agg.reshape(query.shape), last], dim=layout.frame_dim)
        corr = F.pad(logits, (0, 0, 0, 1))  # the last frame's corr is 0
    return (layout.unflat(y).to(x.dtype),
            corr.view(n, -1, t, h, w).to(x.dtype))
