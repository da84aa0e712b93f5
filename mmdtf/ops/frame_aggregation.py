"""Frame-wise Aggregation (FA): the DTF paper's custom op, spec section 1.

For frame ``t < T-1`` and pixel ``p`` the query ``x[:, :, t, p]`` is compared with
the ``k x k`` neighbourhood of ``p`` in frame ``t+1`` (zero padded)::

    corr[n, j, t, p] = mean_c x[n, c, t, p] * x[n, c, t+1, p + d_j]
    agg[n, c, t, p]  = sum_j softmax_j(corr)[n, j, t, p] * x[n, c, t+1, p + d_j]

and the last frame gets ``corr = 0`` and ``agg = 0``. The op returns
``(x + agg, corr)``.

This file holds the input checks, the backend dispatch and the pure-PyTorch
path. The PyTorch path loops over the ``k*k`` offsets with views of one
zero-padded copy of the next frames, so it never materialises a ``k*k``-times
copy of ``x``; its backward is written by hand for the same reason (autograd
through the loop would keep one gradient buffer per offset alive). Its ops
run over long runs of pixels in the input's own layout (:class:`_Layout`).
It is the CPU path and the oracle of the CUDA backend, registered as the
operators ``mmdtf::frame_aggregation`` and ``mmdtf::frame_aggregation_backward``
(one opaque node each under torch.compile).
``frame_aggregation_export`` runs the same forward in standard operators,
which ONNX export runs instead of the registered operator.
"""
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

BACKENDS = ('auto', 'torch', 'cupy')
SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32,
                    torch.float64)
_warned_fallback = set()


def check_frame_aggregation_input(x: torch.Tensor, kernel_size: int) -> None:
    """Raise a clear error for anything ``frame_aggregation`` cannot take."""
    if not isinstance(x, torch.Tensor):
        raise TypeError('frame_aggregation expects a torch.Tensor of shape '
                        f'(N, C, T, H, W), got {type(x).__name__}.')
    if x.dim() != 5:
        raise ValueError('frame_aggregation expects a 5-D tensor (N, C, T, H, '
                         f'W), got a {x.dim()}-D tensor of shape '
                         f'{tuple(x.shape)}.')
    if x.dtype not in SUPPORTED_DTYPES:
        raise TypeError('frame_aggregation expects a floating tensor '
                        '(float16, bfloat16, float32 or float64), got '
                        f'{x.dtype}.')
    if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int)
            or kernel_size < 1 or kernel_size % 2 == 0):
        raise ValueError('frame_aggregation expects an odd positive integer '
                         f'kernel_size (e.g. 3), got {kernel_size!r}; set '
                         '`kernel_size` of the DTF block (backbone key '
                         '`dtf_cfg.kernel_size`).')


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f'frame_aggregation backend must be one of {BACKENDS}'
                         f', got {backend!r}; set `backend` of the DTF block '
                         '(backbone key `dtf_cfg.backend`).')


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
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


class _Layout:
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
                     out: Optional[torch.Tensor]) -> torch.Tensor:
        """``out[:, j] = sum_c a * keys[j]``; ``out`` is (N, k*k, T', H*W).
        One product buffer serves every offset. With ``out=None``, the
        same sums in out-of-place operators (for export), stacked."""
        if out is None:
            return torch.stack([
                self.fmap(a * key).sum(dim=self.channel_dim).view(
                    self.n, -1, self.h * self.w) for key in keys
            ], dim=1)
        prod = torch.empty_like(a)
        for j, key in enumerate(keys):
            torch.mul(a, key, out=prod)
            torch.sum(self.fmap(prod), dim=self.channel_dim,
                      out=self.pixels(out[:, j]))
        return out


def _forward(x: torch.Tensor, kernel_size: int,
             export: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """FA's forward: ``(y, corr)`` in the compute dtype, ``y`` flat in
    ``x``'s layout (:meth:`_Layout.flat`), ``corr`` (N, k*k, T, H*W).

    :func:`frame_aggregation_op` runs it with ``out=`` buffers and in-place
    accumulation; ``export=True`` runs the same steps in out-of-place
    standard operators (pad, slices, sums, softmax, cat), which exporters
    can trace: the same correlations bit for bit, the aggregation up to the
    rounding of its multiply-adds.
    """
    dtype = _compute_dtype(x.dtype)
    layout = _Layout(x, kernel_size)
    n, c, t, h, w = x.shape
    k2 = kernel_size * kernel_size
    xf = layout.flat(x, dtype)
    query, following, last = layout.split(xf)
    if export:
        corr, y = None, None
    else:
        corr = xf.new_zeros(n, k2, t, h * w)
        y = torch.empty_like(xf)
        layout.split(y)[2].copy_(last)  # the last frame aggregates nothing
    if t == 1:
        if export:
            return xf.clone(), xf.new_zeros(n, k2, t, h * w)
        return y, corr
    keys = layout.windows(layout.padded(following))
    mask = inside_masks(kernel_size, h, w, dtype, x.device)[:, None]
    logits = layout.channel_sums(query, keys,
                                 None if export else corr[:, :, :-1])
    logits = logits.div_(c).mul_(mask)  # the channel mean; 0 outside
    # Outside keys keep their softmax mass but add no value.
    attn = logits.softmax(dim=1).mul_(mask)
    if export:  # y = x + agg, accumulated offset by offset
        agg = layout.fmap(query)
        for j, key in enumerate(keys):
            agg = agg + layout.per_pixel(attn[:, j]) * layout.fmap(key)
        y = torch.cat([agg.reshape(query.shape), last], dim=layout.frame_dim)
        return y, F.pad(logits, (0, 0, 0, 1))  # the last frame's corr is 0
    agg = layout.fmap(layout.split(y)[0])  # y = x + agg, in place
    for j, key in enumerate(keys):
        args = (layout.per_pixel(attn[:, j]), layout.fmap(key))
        if j == 0:
            torch.addcmul(layout.fmap(query), *args, out=agg)
        else:
            agg.addcmul_(*args)
    return y, corr


# The PyTorch path is a registered operator (torch.library) rather than an
# autograd Function: torch.compile then keeps it as one opaque node with
# known output shapes (its fake implementation below), so it neither traces
# the k*k-offset loops with their out= buffers into the graph (inductor made
# them slower than eager and took minutes to compile) nor reads Python-side
# state (the mask cache) through guards. docs/compile.md.
@torch.library.custom_op('mmdtf::frame_aggregation', mutates_args=())
def frame_aggregation_op(x: torch.Tensor,
                         kernel_size: int) -> Tuple[torch.Tensor,
                                                    torch.Tensor]:
    """FA on the PyTorch path: ``y`` in the dtype and layout of ``x``, and
    ``corr`` (N, k*k, T, H, W) in the compute dtype (float32 for half
    inputs: the backward's softmax reads it)."""
    y, corr = _forward(x, kernel_size)
    n, _, t, h, w = x.shape
    return (_Layout(x, kernel_size).unflat(y).to(x.dtype),
            corr.view(n, -1, t, h, w))


@frame_aggregation_op.register_fake
def _frame_aggregation_fake(x: torch.Tensor, kernel_size: int):
    layout = _Layout(x, kernel_size)
    n, _, t, h, w = x.shape
    return (layout.unflat(x.new_empty(layout.flat_shape)),
            x.new_empty((n, kernel_size**2, t, h, w),
                        dtype=_compute_dtype(x.dtype)))


@torch.library.custom_op('mmdtf::frame_aggregation_backward',
                         mutates_args=())
def frame_aggregation_backward_op(grad_y: Optional[torch.Tensor],
                                  grad_corr: Optional[torch.Tensor],
                                  x: torch.Tensor, corr: torch.Tensor,
                                  kernel_size: int) -> torch.Tensor:
    """The gradient of :func:`frame_aggregation_op` with respect to ``x``,
    written by hand: autograd through the offset loop would keep one buffer
    per offset. ``grad_y`` is None when ``y`` is unused
    (``dtf_cfg.aggregate=False``): then only the correlation's terms are
    computed."""
    k = kernel_size
    dtype = _compute_dtype(x.dtype)
    layout = _Layout(x, k)
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


@frame_aggregation_backward_op.register_fake
def _frame_aggregation_backward_fake(grad_y, grad_corr, x, corr,
                                     kernel_size):
    layout = _Layout(x, kernel_size)
    return layout.unflat(x.new_empty(layout.flat_shape))


def _setup_context(ctx, inputs, output) -> None:
    x, kernel_size = inputs
    ctx.kernel_size = kernel_size
    # an unused output then gets grad None: no zero tensor to read
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(x, output[1])


def _backward(ctx, grad_y: Optional[torch.Tensor],
              grad_corr: Optional[torch.Tensor]):
    x, corr = ctx.saved_tensors
    if grad_y is None and grad_corr is None:
        return None, None
    return frame_aggregation_backward_op(grad_y, grad_corr, x, corr,
                                         ctx.kernel_size), None


frame_aggregation_op.register_autograd(_backward,
                                       setup_context=_setup_context)


def frame_aggregation_torch(x: torch.Tensor,
                            kernel_size: int) -> Tuple[torch.Tensor,
                                                       torch.Tensor]:
    """FA on the PyTorch path, both outputs in the dtype of ``x``."""
    y, corr = frame_aggregation_op(x, kernel_size)
    return y, corr.to(x.dtype)


def _unflat(x: torch.Tensor, kernel_size: int, y: torch.Tensor,
            corr: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`_forward`'s outputs in the shapes and dtype of the op's."""
    n, _, t, h, w = x.shape
    return (_Layout(x, kernel_size).unflat(y).to(x.dtype),
            corr.view(n, -1, t, h, w).to(x.dtype))


def frame_aggregation_export(x: torch.Tensor,
                             kernel_size: int) -> Tuple[torch.Tensor,
                                                        torch.Tensor]:
    """FA's forward in standard operators only, for ONNX export: exporters
    cannot look into the registered operators. Autograd through it works but
    keeps one buffer per offset; train with :func:`frame_aggregation`."""
    return _unflat(x, kernel_size, *_forward(x, kernel_size, export=True))


def _resolve_backend(x: torch.Tensor, backend: str) -> str:
    """Pick the backend for ``x``; say once why CUDA runs the slow path."""
    check_backend(backend)
    if backend == 'torch':
        return 'torch'
    if not x.is_cuda:
        if backend == 'cupy':
            raise RuntimeError(
                "frame_aggregation backend='cupy' needs a CUDA tensor, got "
                f'a tensor on {x.device}; use backend=\'auto\' or \'torch\' '
                '(backbone key `dtf_cfg.backend`) on CPU.')
        return 'torch'
    try:  # imported here: CPU-only installs never load the CuPy module
        from .frame_aggregation_cupy import cupy_unavailable_reason
    except Exception as e:  # whatever breaks it must not break the fallback
        reason = ('its module mmdtf.ops.frame_aggregation_cupy failed to '
                  f'import ({type(e).__name__}: {e})')
    else:
        reason = cupy_unavailable_reason(x.device)
    if reason is None:
        return 'cupy'
    if backend == 'cupy':
        raise RuntimeError(
            f"frame_aggregation backend='cupy' cannot run: {reason}. Install "
            'CuPy with `pip install mmdtf[cuda]` (or any cupy-cuda1Xx wheel '
            "matching your CUDA), or set backend='auto' or 'torch' (backbone "
            'key `dtf_cfg.backend`).')
    if reason not in _warned_fallback:
        _warned_fallback.add(reason)
        warnings.warn(
            'frame_aggregation runs its slower pure-PyTorch path on CUDA '
            f'because the CuPy backend is unavailable: {reason}. Install it '
            'with `pip install mmdtf[cuda]`.', RuntimeWarning, stacklevel=3)
    return 'torch'


def frame_aggregation(
        x: torch.Tensor,
        kernel_size: int = 3,
        backend: str = 'auto') -> Tuple[torch.Tensor, torch.Tensor]:
    """Frame-wise Aggregation: returns ``(x + agg, corr)``.

    Args:
        x: features of shape ``(N, C, T, H, W)``, float16/bfloat16/float32/
            float64, on any device; may be non-contiguous.
        kernel_size: odd size ``k`` of the neighbourhood in frame ``t+1``.
        backend: ``'auto'`` (CuPy kernels for CUDA tensors when CuPy works,
            else PyTorch), ``'torch'`` or ``'cupy'``. During ONNX export
            (``torch.onnx.is_in_onnx_export()``) every backend runs
            :func:`frame_aggregation_export` instead.

    Returns:
        ``y`` of the shape and dtype of ``x`` and the raw (pre-softmax)
        correlation ``corr`` of shape ``(N, k*k, T, H, W)``; its last frame
        is zero.
    """
    check_frame_aggregation_input(x, kernel_size)
    if torch.onnx.is_in_onnx_export():
        return frame_aggregation_export(x, kernel_size)
    if _resolve_backend(x, backend) == 'cupy':
        from .frame_aggregation_cupy import FrameAggregationCuPy
        return FrameAggregationCuPy.apply(x, kernel_size)
    return frame_aggregation_torch(x, kernel_size)


class FrameAggregation(torch.nn.Module):
    """Module form of :func:`frame_aggregation` (registered in MODELS)."""

    def __init__(self, kernel_size: int = 3, backend: str = 'auto') -> None:
        super().__init__()
        check_frame_aggregation_input(torch.empty(1, 1, 1, 1, 1), kernel_size)
        check_backend(backend)
        self.kernel_size = kernel_size
        self.backend = backend

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return frame_aggregation(x, self.kernel_size, self.backend)

    def extra_repr(self) -> str:
        return f'kernel_size={self.kernel_size}, backend={self.backend!r}'


__all__ = ['frame_aggregation', 'FrameAggregation', 'frame_aggregation_torch',
           'frame_aggregation_export', 'check_frame_aggregation_input',
           'check_backend', 'BACKENDS']
