"""Frame-wise Aggregation (FA): the DTF paper's custom op, spec section 1.

For frame ``t < T-1`` and pixel ``p`` the query ``x[:, :, t, p]`` is compared with
the ``k x k`` neighbourhood of ``p`` in frame ``t+1`` (zero padded)::

    corr[n, j, t, p] = mean_c x[n, c, t, p] * x[n, c, t+1, p + d_j]
    agg[n, c, t, p]  = sum_j softmax_j(corr)[n, j, t, p] * x[n, c, t+1, p + d_j]

and the last frame gets ``corr = 0`` and ``agg = 0``. The op returns
``(x + agg, corr)``.

This file holds the input checks, the backend dispatch and the pure-PyTorch path.
The PyTorch path loops over the ``k*k`` offsets with views of one zero-padded copy
of the next frames, so it never materialises a ``k*k``-times copy of ``x``; its
backward is written by hand for the same reason (autograd through the loop would
keep one gradient buffer per offset alive). It is the CPU path and the oracle of
the CUDA backend. ``frame_aggregation_export`` is its forward in standard
operators, which ONNX export runs instead of the autograd Functions.
"""
import warnings
from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from torch.autograd import Function
from torch.autograd.function import once_differentiable

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


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs accumulate in float32 (spec section 1)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _offset_windows(padded: torch.Tensor, radius: int, height: int,
                    width: int) -> Iterator[torch.Tensor]:
    """Views of ``padded`` shifted by each offset ``(dy, dx)``, in ``j`` order.

    ``padded`` is a tensor zero padded by ``radius`` on both spatial sides; the
    view for offset ``(dy, dx)`` holds at ``p`` the value at ``p + (dy, dx)``.
    """
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            yield padded[..., radius + dy:radius + dy + height,
                         radius + dx:radius + dx + width]


class FrameAggregationTorch(Function):
    """Pure-PyTorch FA with a hand-written backward (any device, any dtype)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor,
                kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        ctx.kernel_size = kernel_size
        xc = x.to(_compute_dtype(x.dtype))
        n, c, t, h, w = x.shape
        r = kernel_size // 2
        corr = xc.new_zeros(n, kernel_size * kernel_size, t, h, w)
        y = xc.clone()
        if t > 1:
            query, nxt = xc[:, :, :-1], xc[:, :, 1:]
            padded = F.pad(nxt, (r, r, r, r))
            for j, key in enumerate(_offset_windows(padded, r, h, w)):
                corr[:, j, :-1] = (query * key).mean(dim=1)
            attn = corr[:, :, :-1].softmax(dim=1)
            agg = y[:, :, :-1]  # accumulate in place: y = x + agg
            for j, key in enumerate(_offset_windows(padded, r, h, w)):
                agg.addcmul_(attn[:, j:j + 1], key)
        ctx.save_for_backward(x, corr)
        return y.to(x.dtype), corr.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: torch.Tensor,
                 grad_corr: torch.Tensor) -> Tuple[torch.Tensor, None]:
        x, corr = ctx.saved_tensors
        k = ctx.kernel_size
        dtype = _compute_dtype(x.dtype)
        xc, grad_y = x.to(dtype), grad_y.to(dtype)
        n, c, t, h, w = x.shape
        r = k // 2
        grad_x = grad_y.clone()  # the residual path
        if t > 1:
            query, nxt = xc[:, :, :-1], xc[:, :, 1:]
            padded = F.pad(nxt, (r, r, r, r))
            attn = corr[:, :, :-1].to(dtype).softmax(dim=1)
            grad_agg = grad_y[:, :, :-1]
            grad_attn = torch.stack([(grad_agg * key).sum(dim=1)
                                     for key in _offset_windows(padded, r, h, w)],
                                    dim=1)
            # softmax backward, plus the gradient reaching corr directly
            grad_logit = attn * (grad_attn - (attn * grad_attn).sum(
                dim=1, keepdim=True))
            grad_logit += grad_corr[:, :, :-1].to(dtype)
            grad_logit /= c
            grad_query = grad_x[:, :, :-1]
            grad_padded = torch.zeros_like(padded)
            windows = zip(_offset_windows(padded, r, h, w),
                          _offset_windows(grad_padded, r, h, w))
            for j, (key, grad_key) in enumerate(windows):
                grad_query.addcmul_(grad_logit[:, j:j + 1], key)
                grad_key.addcmul_(attn[:, j:j + 1], grad_agg)
                grad_key.addcmul_(grad_logit[:, j:j + 1], query)
            grad_x[:, :, 1:] += grad_padded[..., r:r + h, r:r + w]
        return grad_x.to(x.dtype), None


def frame_aggregation_export(x: torch.Tensor,
                             kernel_size: int) -> Tuple[torch.Tensor,
                                                        torch.Tensor]:
    """FA's forward in standard operators only (pad, slices, mean, softmax,
    cat), for ONNX export: exporters cannot look into the autograd Functions.

    The same values as :class:`FrameAggregationTorch`'s forward, summed in the
    same order. Autograd through it works but keeps one buffer per offset;
    train with :func:`frame_aggregation`.
    """
    dtype = _compute_dtype(x.dtype)
    xc = x.to(dtype)
    n, c, t, h, w = x.shape
    r = kernel_size // 2
    if t == 1:
        return x.clone(), x.new_zeros(n, kernel_size * kernel_size, t, h, w)
    query, nxt = xc[:, :, :-1], xc[:, :, 1:]
    padded = F.pad(nxt, (r, r, r, r))
    keys = list(_offset_windows(padded, r, h, w))
    corr = torch.stack([(query * key).mean(dim=1) for key in keys], dim=1)
    attn = corr.softmax(dim=1)
    agg = query  # y = x + agg, accumulated offset by offset
    for j, key in enumerate(keys):
        agg = agg + attn[:, j:j + 1] * key
    y = torch.cat([agg, xc[:, :, -1:]], dim=2)
    corr = F.pad(corr, (0, 0, 0, 0, 0, 1))  # the last frame's corr is 0
    return y.to(x.dtype), corr.to(x.dtype)


def _resolve_backend(x: torch.Tensor, backend: str) -> str:
    """Pick the backend for ``x``; say once why CUDA runs the slow path."""
    if backend not in BACKENDS:
        raise ValueError(f'frame_aggregation backend must be one of {BACKENDS}'
                         f', got {backend!r}; set `backend` of the DTF block '
                         '(backbone key `dtf_cfg.backend`).')
    if backend == 'torch':
        return 'torch'
    if not x.is_cuda:
        if backend == 'cupy':
            raise RuntimeError(
                "frame_aggregation backend='cupy' needs a CUDA tensor, got "
                f'a tensor on {x.device}; use backend=\'auto\' or \'torch\' '
                '(backbone key `dtf_cfg.backend`) on CPU.')
        return 'torch'
    from .frame_aggregation_cupy import cupy_unavailable_reason
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
    return FrameAggregationTorch.apply(x, kernel_size)


class FrameAggregation(torch.nn.Module):
    """Module form of :func:`frame_aggregation` (registered in MODELS)."""

    def __init__(self, kernel_size: int = 3, backend: str = 'auto') -> None:
        super().__init__()
        check_frame_aggregation_input(torch.empty(1, 1, 1, 1, 1), kernel_size)
        if backend not in BACKENDS:
            _resolve_backend(torch.empty(0), backend)  # raises the message
        self.kernel_size = kernel_size
        self.backend = backend

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return frame_aggregation(x, self.kernel_size, self.backend)

    def extra_repr(self) -> str:
        return f'kernel_size={self.kernel_size}, backend={self.backend!r}'


__all__ = ['frame_aggregation', 'FrameAggregation', 'FrameAggregationTorch',
           'frame_aggregation_export', 'check_frame_aggregation_input',
           'BACKENDS']
