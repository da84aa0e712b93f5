"""FA's PyTorch kernel: the CPU kernel of ``mmdtf::frame_aggregation``, and
its CUDA kernel when ``backend='torch'`` or CuPy is missing.

It loops over the ``k*k`` offsets with views of one zero-padded copy of the
next frames, so it never materialises a ``k*k``-times copy of ``x``; its
backward is written by hand for the same reason (autograd through the loop
would keep one gradient buffer per offset alive). Its ops run over long runs
of pixels in the input's own layout (:class:`MemoryLayout`), with ``out=``
buffers and in-place accumulation. Half-precision inputs are computed in
float32.

:func:`forward` and :func:`backward` are what the registered operator runs
(``custom_op.py``); :func:`empty_outputs` and :func:`empty_grad` give its
fake implementation the exact shapes, strides and dtypes of their results.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs accumulate in float32 (spec section 1)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


_MASK_CACHE: Dict[Tuple[int, int, int, torch.dtype, torch.device],
                  torch.Tensor] = {}


def inside_masks(kernel_size: int, height: int, width: int,
                 dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(k*k, H*W)``: 1 where the key ``p + d_j`` lies inside the image, else
    0; cached per size, dtype and device."""
    key = (kernel_size, height, width, dtype, device)
    if key in _MASK_CACHE:
        return _MASK_CACHE[key]
    # Built from Python lists: a constant, not traced ops, in exported graphs.
    r = kernel_size // 2
    rows = [[0 <= i + d < height for i in range(height)]
            for d in range(-r, r + 1)]
    cols = [[0 <= i + d < width for i in range(width)]
            for d in range(-r, r + 1)]
    mask = torch.tensor([[float(row and col) for row in rows_in
                          for col in cols_in]
                         for rows_in in rows for cols_in in cols],
                        dtype=dtype, device=device)
    if type(mask) is torch.Tensor:  # not a fake of a torch.compile trace
        _MASK_CACHE[key] = mask
    return mask


class MemoryLayout:
    """How the torch path walks the memory of ``x`` (N, C, T, H, W).

    Every op runs over long contiguous runs of pixels, read without a copy
    for the three layouts that occur:

    - ``'frames'``, (N, T, C, H, W) memory: ResNetDTF's frame batch; a run
      is one frame's C*H*W elements;
    - ``'channels_last'``, (N, T, H, W, C): SwinDTF's tokens; a run is one
      frame's H*W*C elements;
    - ``'standard'``, contiguous (N, C, T, H, W): a run is one channel's
      T*H*W elements. Any other layout is copied into this one.

    A neighbour offset ``(dy, dx)`` is then a shift of the runs by
    ``dy * W + dx`` pixels: each offset is one slice of a padded copy. (A
    copy padded along H and W instead leaves W-long rows for every op: at
    7x7 they ran several times slower.) The shift reads a wrong element
    exactly where the neighbour lies outside the image (it lands in the
    next or previous row, channel or frame, or in the padding):
    :func:`inside_masks` zeroes the correlation there and the value's
    weight. (So an inf or NaN in ``x`` can also reach the pixels whose wrong
    element it is, as 0 * inf; with non-finite features the step is lost
    either way.)

    The pixel-wise tensors (correlations, weights) are (N, T', H*W) for
    every layout; :meth:`pixels` maps them onto a layout's channel sums.
    """

    def __init__(self, x: torch.Tensor, kernel_size: int) -> None:
        self.n, self.c, self.t, self.h, self.w = x.shape
        if x.transpose(1, 2).is_contiguous():
            self.kind, self.channel_dim, unit = 'frames', 2, 1
        elif x.permute(0, 2, 3, 4, 1).is_contiguous():
            self.kind, self.channel_dim, unit = 'channels_last', 3, self.c
        else:
            self.kind, self.channel_dim, unit = 'standard', 1, 1
        # the axis of flat tensors along which frames follow each other
        self.frame_dim = 2 if self.kind == 'standard' else 1
        r = kernel_size // 2
        self.pad = (r * self.w + r) * unit
        self.shifts = [(dy * self.w + dx) * unit
                       for dy in range(-r, r + 1) for dx in range(-r, r + 1)]

    def flat(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``x`` as contiguous runs in ``dtype``: (N, T, C*H*W) or, for
        ``'standard'``, (N, C, T*H*W). A view when ``x`` is laid out so."""
        x = x.to(dtype)
        if self.kind == 'frames':
            x = x.transpose(1, 2)
        elif self.kind == 'channels_last':
            x = x.permute(0, 2, 3, 4, 1)
        return x.contiguous().view(x.shape[0], x.shape[1], -1)

    @property
    def flat_shape(self) -> Tuple[int, int, int]:
        """The shape of :meth:`flat`'s result."""
        if self.kind == 'standard':
            return self.n, self.c, self.t * self.h * self.w
        return self.n, self.t, self.c * self.h * self.w

    def unflat(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`flat` (a view)."""
        n, c, t, h, w = self.n, self.c, self.t, self.h, self.w
        if self.kind == 'frames':
            return x.view(n, t, c, h, w).transpose(1, 2)
        if self.kind == 'channels_last':
            return x.view(n, t, h, w, c).permute(0, 4, 1, 2, 3)
        return x.view(n, c, t, h, w)

    def split(self, x: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Views of flat ``x``: frames ``< T-1`` (the queries), frames
        ``>= 1`` (their keys) and the last frame."""
        if self.kind == 'standard':
            frame = self.h * self.w
            return (x[..., :-frame], x[..., frame:], x[..., -frame:])
        return x[:, :-1], x[:, 1:], x[:, -1:]

    def fmap(self, x: torch.Tensor) -> torch.Tensor:
        """A split of flat ``x`` with the channel axis apart (a view)."""
        hw = self.h * self.w
        if self.kind == 'frames':
            return x.view(self.n, -1, self.c, hw)
        if self.kind == 'channels_last':
            return x.view(self.n, -1, hw, self.c)
        return x

    def pixels(self, a: torch.Tensor) -> torch.Tensor:
        """(N, T', H*W) -> the shape of a channel sum of :meth:`fmap`."""
        return a.flatten(1) if self.kind == 'standard' else a

    def per_pixel(self, a: torch.Tensor) -> torch.Tensor:
        """(N, T', H*W) -> broadcastable against :meth:`fmap`."""
        return self.pixels(a).unsqueeze(self.channel_dim)

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """A zero-padded copy of the runs of ``x`` for :meth:`windows`."""
        return F.pad(x, (self.pad, self.pad))

    def windows(self, padded: torch.Tensor) -> List[torch.Tensor]:
        """The k*k shifted views of ``padded``, in ``j`` order."""
        size = padded.shape[-1] - 2 * self.pad
        return [padded[..., self.pad + s:self.pad + s + size]
                for s in self.shifts]

    def unpadded(self, padded: torch.Tensor) -> torch.Tensor:
        """The view of ``padded`` that :meth:`padded` copied into."""
        return padded[..., self.pad:padded.shape[-1] - self.pad]

    def channel_sums(self, a: torch.Tensor, keys: List[torch.Tensor],
                     out: torch.Tensor) -> torch.Tensor:
        """``out[:, j] = sum_c a * keys[j]``; ``out`` is (N, k*k, T', H*W).
        One product buffer serves every offset."""
        prod = torch.empty_like(a)
        for j, key in enumerate(keys):
            torch.mul(a, key, out=prod)
            torch.sum(self.fmap(prod), dim=self.channel_dim,
                      out=self.pixels(out[:, j]))
        return out


def forward(x: torch.Tensor,
            kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y`` in the dtype and layout of ``x``, and ``corr`` (N, k*k, T, H,
    W) in the compute dtype (float32 for half inputs: the backward's softmax
    reads it)."""
    dtype = compute_dtype(x.dtype)
    layout = MemoryLayout(x, kernel_size)
    n, c, t, h, w = x.shape
    xf = layout.flat(x, dtype)
    query, following, last = layout.split(xf)
    corr = xf.new_zeros(n, kernel_size * kernel_size, t, h * w)
    y = torch.empty_like(xf)
    layout.split(y)[2].copy_(last)  # the last frame aggregates nothing
    if t > 1:
        keys = layout.windows(layout.padded(following))
        mask = inside_masks(kernel_size, h, w, dtype, x.device)[:, None]
        logits = layout.channel_sums(query, keys, corr[:, :, :-1])
        logits.div_(c).mul_(mask)  # the channel mean; 0 outside
        # Outside keys keep their softmax mass but add no value.
        attn = logits.softmax(dim=1).mul_(mask)
        agg = layout.fmap(layout.split(y)[0])  # y = x + agg, in place
        for j, key in enumerate(keys):
            args = (layout.per_pixel(attn[:, j]), layout.fmap(key))
            if j == 0:
                torch.addcmul(layout.fmap(query), *args, out=agg)
            else:
                agg.addcmul_(*args)
    return layout.unflat(y).to(x.dtype), corr.view(n, -1, t, h, w)


def backward(grad_y: Optional[torch.Tensor],
             grad_corr: Optional[torch.Tensor], x: torch.Tensor,
             corr: Optional[torch.Tensor], kernel_size: int) -> torch.Tensor:
    """The gradient of :func:`forward` with respect to ``x``, from the
    saved ``corr`` (its softmax is not recomputed). ``grad_y`` is None when
    ``y`` is unused (``dtf_cfg.aggregate=False``): then only the
    correlation's terms are computed."""
    if corr is None:
        raise ValueError("FA's PyTorch backward needs the forward's corr")
    k = kernel_size
    dtype = compute_dtype(x.dtype)
    layout = MemoryLayout(x, k)
    n, c, t, h, w = x.shape
    xf = layout.flat(x, dtype)
    if grad_y is not None:
        grad_y = layout.flat(grad_y, dtype)
    grad_x = (torch.zeros_like(xf) if grad_y is None else
              grad_y.clone())  # the residual path
    if t > 1:
        query, following, _ = layout.split(xf)
        padded = layout.padded(following)
        keys = layout.windows(padded)
        mask = inside_masks(k, h, w, dtype, x.device)[:, None]
        attn = corr.view(n, k * k, t, h * w)[:, :, :-1].softmax(dim=1)
        if grad_y is None:
            grad_logit = torch.zeros_like(attn)
        else:
            grad_agg = layout.split(grad_y)[0]
            # grad_attn_j = sum_c grad_agg * value_j (0 for outside keys)
            grad_attn = layout.channel_sums(grad_agg, keys,
                                            torch.empty_like(attn))
            grad_attn.mul_(mask)
            # softmax backward
            grad_logit = attn * (grad_attn - (attn * grad_attn).sum(
                dim=1, keepdim=True))
        if grad_corr is not None:  # the gradient reaching corr directly
            grad_logit += grad_corr[:, :, :-1].reshape_as(attn).to(dtype)
        grad_logit.div_(c).mul_(mask)  # outside logits are constant 0
        attn.mul_(mask)  # the values' weights
        grad_query = layout.fmap(layout.split(grad_x)[0])
        grad_padded = torch.zeros_like(padded)
        for j, (key, grad_key) in enumerate(
                zip(keys, layout.windows(grad_padded))):
            grad_logit_j = layout.per_pixel(grad_logit[:, j])
            grad_query.addcmul_(grad_logit_j, layout.fmap(key))
            grad_key = layout.fmap(grad_key)
            if grad_y is not None:
                grad_key.addcmul_(layout.per_pixel(attn[:, j]),
                                  layout.fmap(grad_agg))
            grad_key.addcmul_(grad_logit_j, layout.fmap(query))
        layout.split(grad_x)[1].add_(layout.unpadded(grad_padded))
    return layout.unflat(grad_x).to(x.dtype)


def empty_outputs(x: torch.Tensor,
                  kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised tensors laid out as :func:`forward`'s results."""
    layout = MemoryLayout(x, kernel_size)
    return (layout.unflat(x.new_empty(layout.flat_shape)),
            empty_corr(x, kernel_size))


def empty_corr(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """An uninitialised ``corr`` as :func:`forward` returns it."""
    n, _, t, h, w = x.shape
    return x.new_empty((n, kernel_size**2, t, h, w),
                       dtype=compute_dtype(x.dtype))


def empty_grad(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """An uninitialised tensor laid out as :func:`backward`'s result."""
    layout = MemoryLayout(x, kernel_size)
    return layout.unflat(x.new_empty(layout.flat_shape))
