"""DTF's spectral modulation ``f' = iDFT(DFT(y) * H)`` over time, fused: the
C++ CPU kernel (source ``ops/spectral_modulation_cpu.cpp``, compiled on
first use by :mod:`.cpu_extension`) behind the CPU kernels of
``mmdtf::spectral_modulation`` and its backward
(``mmdtf/models/blocks/spectral_modulation.py``, which passes the DFT
matrices).

Each output pixel's ``T`` values are read once, transformed, multiplied by
the filter and transformed back in registers, where the PyTorch path makes a
pass over the feature per matrix and complex product. ``y`` and the
gradient are read in any memory layout; ``f'`` and ``y``'s gradient are
written as the PyTorch path lays them out, (N, C, T, H, W) stored (N, T, C,
H, W); the filter's gradient contiguous, in the filter's dtype.

:func:`block_tail` is a DTF block's output without autograd, the rms
scaling, the filter's bias and the residual in the same pass
(mmdtf/models/blocks/fused_tail.py).
"""
import ctypes
from typing import Optional, Tuple

import torch

from .cpu_extension import CpuExtension

#: frames the kernel is built for (its stack arrays)
MAX_FRAMES = 64
_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2,
                torch.float16: 3}


def _declare(lib: ctypes.CDLL) -> None:
    ptr, arr, i32, i64 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), \
        ctypes.c_int, ctypes.c_int64
    lib.mmdtf_sm_last_error.restype = ctypes.c_char_p
    lib.mmdtf_sm_forward.argtypes = [i32, arr, i64, ptr, arr, ptr, ptr, arr,
                                     ptr, ptr, ptr, arr]
    lib.mmdtf_sm_backward.argtypes = [i32, arr, i64, ptr, arr, ptr, arr, ptr,
                                      ptr, arr, ptr, ptr, ptr, arr, ptr, ptr,
                                      arr]
    lib.mmdtf_sm_block_tail.argtypes = [i32, arr, i64, ptr, arr, ptr, ptr,
                                        ptr, ptr, arr, ptr, ptr, i32,
                                        ctypes.c_double, ptr, ptr, ptr, arr,
                                        ptr, ptr, ptr, arr]


EXTENSION = CpuExtension('spectral_modulation_cpu.cpp', 'mmdtf_sm_cpu',
                         'spectral_modulation', 'its fused CPU kernel',
                         _declare)


def unavailable_reason(y: torch.Tensor) -> Optional[str]:
    """None if the fused kernel runs on ``y``, else why not."""
    if y.device.type != 'cpu':
        return f'a {y.device.type} tensor (the kernel is for CPU tensors)'
    if y.dtype not in _DTYPE_CODES:
        return f'dtype {y.dtype} (it is built for {list(_DTYPE_CODES)})'
    if y.shape[2] > MAX_FRAMES:
        return (f'{y.shape[2]} frames (it is built for at most '
                f'{MAX_FRAMES})')
    return EXTENSION.unavailable_reason()


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _ints(values) -> ctypes.Array:
    return (ctypes.c_int64 * len(values))(*values)


def _filter_strides(part: torch.Tensor) -> ctypes.Array:
    # (N, groups, 1, M, H, W): the singleton dim is not walked
    s = part.stride()
    return _ints((s[0], s[1], s[3], s[4], s[5]))


def _frames_outermost(y: torch.Tensor) -> torch.Tensor:
    n, c, t, h, w = y.shape
    return y.new_empty((n, t, c, h, w)).transpose(1, 2)


def _check(lib: ctypes.CDLL, status: int, what: str) -> None:
    if status:
        raise RuntimeError(f'spectral_modulation fused CPU kernel, {what}: '
                           f'{lib.mmdtf_sm_last_error().decode()}')


def _matrices(dft: Tuple[torch.Tensor, ...], dtype: torch.dtype):
    """The forward (M, T) and inverse (T, M) matrices, each real part then
    imaginary part, contiguous in ``dtype``."""
    fwd_real, fwd_imag, inv_real, inv_imag = (m.to(dtype) for m in dft)
    return (torch.cat([fwd_real, fwd_imag]).contiguous(),
            torch.cat([inv_real, inv_imag]).contiguous())


def forward(y: torch.Tensor, filt_real: torch.Tensor,
            filt_imag: torch.Tensor,
            dft: Tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``iDFT(DFT(y) * H)`` in the dtype of ``y``: ``y`` (N, C, T, H, W),
    the filter parts (N, groups, 1, M, H, W), each shared by ``C / groups``
    consecutive channels, ``dft`` the forward (real, imaginary) and inverse
    (real, imaginary) matrices."""
    lib = EXTENSION.library()
    work = accumulation_dtype(y.dtype)
    filt_real, filt_imag = filt_real.to(work), filt_imag.to(work)
    if filt_imag.stride() != filt_real.stride():
        filt_real, filt_imag = filt_real.contiguous(), filt_imag.contiguous()
    fwd, inv = _matrices(dft, work)
    out = _frames_outermost(y)
    _check(lib, lib.mmdtf_sm_forward(
        _DTYPE_CODES[y.dtype], _ints(y.shape), filt_real.shape[1],
        y.data_ptr(), _ints(y.stride()), filt_real.data_ptr(),
        filt_imag.data_ptr(), _filter_strides(filt_real), fwd.data_ptr(),
        inv.data_ptr(), out.data_ptr(), _ints(out.stride())), 'forward')
    return out


def backward(grad: torch.Tensor, y: torch.Tensor, filt_real: torch.Tensor,
             filt_imag: torch.Tensor, dft: Tuple[torch.Tensor, ...]
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of :func:`forward` with respect to ``y`` and the two
    filter parts (the latter contiguous, in the parts' dtypes)."""
    lib = EXTENSION.library()
    work = accumulation_dtype(y.dtype)
    parts = filt_real.to(work), filt_imag.to(work)
    if parts[1].stride() != parts[0].stride():
        parts = parts[0].contiguous(), parts[1].contiguous()
    fwd, inv = _matrices(dft, work)
    grad = grad.to(y.dtype)
    grad_y = _frames_outermost(y)
    grad_real = torch.empty(filt_real.shape, dtype=work)
    grad_imag = torch.empty(filt_real.shape, dtype=work)
    _check(lib, lib.mmdtf_sm_backward(
        _DTYPE_CODES[y.dtype], _ints(y.shape), filt_real.shape[1],
        grad.data_ptr(), _ints(grad.stride()), y.data_ptr(),
        _ints(y.stride()), parts[0].data_ptr(), parts[1].data_ptr(),
        _filter_strides(parts[0]), fwd.data_ptr(), inv.data_ptr(),
        grad_y.data_ptr(), _ints(grad_y.stride()), grad_real.data_ptr(),
        grad_imag.data_ptr(), _filter_strides(grad_real)), 'backward')
    return grad_y, grad_real.to(filt_real.dtype), grad_imag.to(
        filt_imag.dtype)


def block_tail(y: torch.Tensor, x: torch.Tensor, from_y: torch.Tensor,
               from_corr: Optional[torch.Tensor], bias: Optional[torch.Tensor],
               rms_eps: Optional[float], groups: int, gamma: torch.Tensor,
               beta: torch.Tensor, dft: Tuple[torch.Tensor, ...]
               ) -> torch.Tensor:
    """A DTF block's output ``x + gamma * iDFT(DFT(y) * H) + beta`` in the
    dtype of ``x``, with the filter ``H = r * from_y + r^2 * from_corr +
    bias`` at each pixel: ``from_y`` and ``from_corr`` (N, 2 * groups * M,
    H, W), the estimator's convolution of ``y`` and of ``corr`` (None
    without corr), channels in (part, group, bin) order; ``bias`` (2 *
    groups * M,) or None; ``r`` 1 / the root mean square of ``y``'s C x T
    values at the pixel plus ``rms_eps`` (1 where ``rms_eps`` is None);
    ``gamma`` and ``beta`` C values. No autograd."""
    if x.dtype != y.dtype or x.shape != y.shape:
        raise ValueError(f'block_tail: x {tuple(x.shape)} {x.dtype} and y '
                         f'{tuple(y.shape)} {y.dtype} must match.')
    lib = EXTENSION.library()
    work = accumulation_dtype(y.dtype)
    n, _, h, w = from_y.shape
    bins = y.shape[2] // 2 + 1

    def parts(filt):  # (N, 2 * groups * M, H, W) -> real, imaginary views
        halves = filt.to(work).contiguous().view(n, 2, groups, bins, h, w)
        return halves[:, 0], halves[:, 1]

    a_real, a_imag = parts(from_y)
    b_real, b_imag = parts(from_corr) if from_corr is not None \
        else (None, None)
    if bias is not None:
        bias = bias.to(work).contiguous()
    fwd, inv = _matrices(dft, work)
    gamma = gamma.to(work).contiguous()
    beta = beta.to(work).contiguous()
    out = torch.empty_like(x)

    def address(t):
        return None if t is None else t.data_ptr()

    _check(lib, lib.mmdtf_sm_block_tail(
        _DTYPE_CODES[y.dtype], _ints(y.shape), groups, y.data_ptr(),
        _ints(y.stride()), a_real.data_ptr(), a_imag.data_ptr(),
        address(b_real), address(b_imag),
        _ints(a_real.stride()),  # b's too: the same shape, contiguous
        address(bias), None if bias is None else bias[groups * bins:].data_ptr(),
        int(rms_eps is not None), 0.0 if rms_eps is None else rms_eps,
        fwd.data_ptr(), inv.data_ptr(), x.data_ptr(),
        _ints(x.stride()), gamma.data_ptr(), beta.data_ptr(), out.data_ptr(),
        _ints(out.stride())), 'block tail')
    return out
