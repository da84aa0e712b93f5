"""FA's fused C++ kernel: the CPU kernel of ``mmdtf::frame_aggregation``
(``backend='cpp'``, and what ``'auto'`` runs on CPU); source
``ops/frame_aggregation_cpu.cpp``.

One pass per output: the correlations, their softmax and the aggregation
stay in registers, where the PyTorch path makes a pass over the feature per
offset and step. The backward is two passes (the logit gradients, then a
gather per input pixel), like the CUDA kernels'.

It is compiled on first use (:mod:`mmdtf.ops.cpu_extension`: a C++
compiler and ``ninja``, about a minute, one build per source, flags, torch
version and instruction set); where it cannot be built (no compiler),
:func:`unavailable_reason` says why.

It is called through ``ctypes`` with data pointers and element strides, so
it reads and writes every memory layout in place; the outputs are allocated
here, laid out as the PyTorch kernel's (:func:`empty_outputs` and
:func:`empty_grad` are its), and ``corr`` is kept in the accumulation type
for the backward's softmax as there.
"""
import ctypes
import warnings
from typing import Optional, Tuple

import torch

from ..cpu_extension import CpuExtension
from . import torch_kernel
from .torch_kernel import empty_corr, empty_grad, empty_outputs

#: kernel sizes the source instantiates
KERNEL_SIZES = (1, 3, 5, 7)
_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2,
                torch.float16: 3}
_warned_sizes = set()


def _declare(lib: ctypes.CDLL) -> None:
    ptr, arr, i32 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), \
        ctypes.c_int
    lib.mmdtf_fa_last_error.restype = ctypes.c_char_p
    lib.mmdtf_fa_forward.argtypes = [i32, i32, arr, ptr, arr, ptr, arr, ptr,
                                     arr]
    lib.mmdtf_fa_backward.argtypes = [i32, i32, arr, ptr, arr, ptr, arr,
                                      ptr, arr, ptr, arr, ptr, arr]


EXTENSION = CpuExtension('frame_aggregation_cpu.cpp', 'mmdtf_fa_cpu',
                         'frame_aggregation', 'its fused CPU kernel',
                         _declare)


def library() -> ctypes.CDLL:
    """The loaded kernel, built on first use;
    :class:`~mmdtf.ops.cpu_extension.KernelUnavailable` (with the reason)
    where that fails, tried once per process."""
    return EXTENSION.library()


def unavailable_reason() -> Optional[str]:
    """None if the fused kernel runs here, else why not."""
    return EXTENSION.unavailable_reason()


def _ints(values) -> ctypes.Array:
    return (ctypes.c_int64 * 5)(*values)


def _pointer(t: Optional[torch.Tensor]):
    return None if t is None else t.data_ptr()


def _strides(t: Optional[torch.Tensor]) -> ctypes.Array:
    return _ints((0, ) * 5 if t is None else t.stride())


def _check(lib: ctypes.CDLL, status: int, what: str) -> None:
    if status:
        raise RuntimeError(f'frame_aggregation fused CPU kernel, {what}: '
                           f'{lib.mmdtf_fa_last_error().decode()}')


def _built_for(kernel_size: int) -> bool:
    """Whether the source instantiates ``kernel_size``; the others run the
    PyTorch kernel (the same outputs), said once per size."""
    if kernel_size in KERNEL_SIZES:
        return True
    if kernel_size not in _warned_sizes:
        _warned_sizes.add(kernel_size)
        warnings.warn(
            f'frame_aggregation: the fused CPU kernel is built for '
            f'kernel_size {KERNEL_SIZES}, not {kernel_size}; that size runs '
            "the slower PyTorch path (backend='torch').", RuntimeWarning,
            stacklevel=2)
    return False


def forward(x: torch.Tensor, kernel_size: int,
            y: Optional[torch.Tensor] = None
            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y`` in the dtype and layout of ``x`` (or written into ``y``, of
    the shape and dtype of ``x`` in any layout), and ``corr`` (N, k*k, T,
    H, W) in the accumulation type (float32, or float64 for float64)."""
    if not _built_for(kernel_size):
        y_torch, corr = torch_kernel.forward(x, kernel_size)
        return (y_torch, corr) if y is None else (y.copy_(y_torch), corr)
    lib = library()
    if y is None:
        y, corr = empty_outputs(x, kernel_size)
    else:
        corr = empty_corr(x, kernel_size)
    _check(lib, lib.mmdtf_fa_forward(
        _DTYPE_CODES[x.dtype], kernel_size, _ints(x.shape), _pointer(x),
        _strides(x), _pointer(y), _strides(y), _pointer(corr),
        _strides(corr)), 'forward')
    return y, corr


def backward(grad_y: Optional[torch.Tensor],
             grad_corr: Optional[torch.Tensor], x: torch.Tensor,
             corr: Optional[torch.Tensor], kernel_size: int) -> torch.Tensor:
    """The gradient of :func:`forward` with respect to ``x``, from the saved
    ``corr``; ``grad_y`` (y unused) or ``grad_corr`` (corr unused) may be
    None."""
    if corr is None:
        raise ValueError("FA's fused CPU backward needs the forward's corr")
    if not _built_for(kernel_size):
        return torch_kernel.backward(grad_y, grad_corr, x, corr, kernel_size)
    lib = library()
    grad_x = empty_grad(x, kernel_size)
    if grad_y is not None:
        grad_y = grad_y.to(x.dtype)
    if grad_corr is not None:
        grad_corr = grad_corr.to(corr.dtype)
    _check(lib, lib.mmdtf_fa_backward(
        _DTYPE_CODES[x.dtype], kernel_size, _ints(x.shape), _pointer(grad_y),
        _strides(grad_y), _pointer(grad_corr), _strides(grad_corr),
        _pointer(x), _strides(x), _pointer(corr), _strides(corr),
        _pointer(grad_x), _strides(grad_x)), 'backward')
    return grad_x
