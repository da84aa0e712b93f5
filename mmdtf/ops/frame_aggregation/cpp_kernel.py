"""FA's fused C++ kernel: the CPU kernel of ``mmdtf::frame_aggregation``
(``backend='cpp'``, and what ``'auto'`` runs on CPU); source
``ops/frame_aggregation_cpu.cpp``.

One pass per output: the correlations, their softmax and the aggregation
stay in registers, where the PyTorch path makes a pass over the feature per
offset and step. The backward is two passes (the logit gradients, then a
gather per input pixel), like the CUDA kernels'.

It is compiled on first use with ``torch.utils.cpp_extension`` (a C++
compiler and ``ninja``; about a minute) into torch's extension directory
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), under a
name that keys everything the binary depends on: a hash of the source, the
flags, torch's and Python's versions and the machine, and the instruction
set it targets (``avx2`` where ATen runs AVX2 or AVX-512 kernels, else the
architecture's baseline; ``ATEN_CPU_CAPABILITY=default`` lowers it like
ATen's own). A build is therefore never loaded on a CPU that lacks its
instructions, and an edited source is rebuilt. Where it cannot be built
(no compiler), :func:`unavailable_reason` says why.

It is called through ``ctypes`` with data pointers and element strides, so
it reads and writes every memory layout in place; the outputs are allocated
here, laid out as the PyTorch kernel's (:func:`empty_outputs` and
:func:`empty_grad` are its), and ``corr`` is kept in the accumulation type
for the backward's softmax as there.
"""
import ctypes
import hashlib
import logging
import os
import platform
import re
import sys
import time
import warnings
from typing import List, Optional, Tuple

import torch

from . import torch_kernel
from .torch_kernel import empty_grad, empty_outputs

SOURCE_NAME = 'frame_aggregation_cpu.cpp'
#: kernel sizes the source instantiates
KERNEL_SIZES = (1, 3, 5, 7)
_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2,
                torch.float16: 3}
_BASE_FLAGS = ['-O3', '-fopenmp']
# the library once loaded, or why it could not be (one try per process)
_state: dict = {}
_warned_sizes = set()


class KernelUnavailable(RuntimeError):
    """The fused kernel cannot be built or loaded here."""


def target_isa() -> Tuple[str, List[str]]:
    """The instruction set a build targets and its compiler flags.

    AVX2 + FMA where ATen itself runs AVX2 or AVX-512 kernels (its
    capability follows the CPU and ``ATEN_CPU_CAPABILITY``); otherwise the
    architecture's baseline, which every CPU of it runs. Never
    ``-march=native``: a shared cache would hand its binary to other CPUs.
    """
    if platform.machine().lower() in ('x86_64', 'amd64') and \
            torch.backends.cpu.get_cpu_capability() in ('AVX2', 'AVX512'):
        return 'avx2', ['-mavx2', '-mfma']
    return 'baseline', []


def source_path():
    from mmdtf.utils.resources import resource_dir
    return resource_dir('ops') / SOURCE_NAME


def build_name(source: bytes, isa: str, flags: List[str]) -> str:
    """The extension's name: everything its binary depends on, hashed."""
    key = '\n'.join([
        hashlib.sha256(source).hexdigest(), ' '.join(flags), torch.__version__,
        sys.version, platform.machine(), isa])
    return f'mmdtf_fa_cpu_{isa}_{hashlib.sha256(key.encode()).hexdigest()[:16]}'


def _build() -> str:
    """Compile (or find the cached build of) the source; its path."""
    from mmengine.logging import print_log
    from torch.utils import cpp_extension

    path = source_path()
    isa, isa_flags = target_isa()
    flags = _BASE_FLAGS + isa_flags
    name = build_name(path.read_bytes(), isa, flags)
    try:  # torch's own choice (TORCH_EXTENSIONS_DIR, else its cache)
        directory = cpp_extension._get_build_directory(name, verbose=False)
    except AttributeError:  # a torch without that helper: its default
        directory = None
    if directory is None or not os.path.exists(
            os.path.join(directory, name + '.so')):
        print_log(f'frame_aggregation: compiling its fused CPU kernel '
                  f'({isa}) into {directory or "torch_extensions"}, once '
                  '(about a minute)', logger='current', level=logging.INFO)
    start = time.time()
    _with_ninja_on_path()
    built = cpp_extension.load(
        name=name, sources=[_source_in(directory, name, path)],
        extra_cflags=flags,
        extra_ldflags=['-fopenmp'], build_directory=directory,
        is_python_module=False, verbose=False)
    if time.time() - start > 1:
        print_log(f'frame_aggregation: fused CPU kernel built in '
                  f'{time.time() - start:.0f} s', logger='current',
                  level=logging.INFO)
    return built


def _source_in(directory: Optional[str], name: str, path) -> str:
    """The source, copied once into the build directory under the build's
    name: ninja rebuilds when a source's path changes, and the same source
    is found at another path from each checkout (and each copy the mutation
    check makes)."""
    if directory is None:
        return str(path)
    copy = os.path.join(directory, name + '.cpp')
    if not os.path.exists(copy):
        temporary = f'{copy}.{os.getpid()}.tmp'
        with open(temporary, 'wb') as f:
            f.write(path.read_bytes())
        os.replace(temporary, copy)  # whole, even with builds side by side
    return copy


def _with_ninja_on_path() -> None:
    """cpp_extension runs ``ninja`` from PATH; a virtual environment that is
    not activated has the pip package's binary elsewhere."""
    try:
        import ninja
    except ImportError:
        return
    bin_dir = getattr(ninja, 'BIN_DIR', None)
    paths = os.environ.get('PATH', '').split(os.pathsep)
    if bin_dir and bin_dir not in paths:
        os.environ['PATH'] = os.pathsep.join([bin_dir] + paths)


def _describe(error: BaseException) -> str:
    """What a build failure comes down to: the compiler's or the shell's
    error lines where there are some (not the command lines)."""
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip()]
    causes = [line for line in lines if re.search(
        r'not found|error:|no such file|fatal|cannot|permission denied',
        line, re.IGNORECASE) and not line.startswith(('[', 'FAILED'))]
    text = ' | '.join(causes[-2:]) or (lines[0] if lines else '')
    return f'{type(error).__name__}: {text[:400]}'


def library() -> ctypes.CDLL:
    """The loaded kernel, built on first use; :class:`KernelUnavailable`
    (with the reason) where that fails, tried once per process."""
    if 'library' in _state:
        return _state['library']
    if 'error' not in _state:
        try:
            lib = ctypes.CDLL(_build())
        except Exception as e:  # whatever fails, the PyTorch path remains
            _state['error'] = _describe(e)
        else:
            _declare(lib)
            _state['library'] = lib
            return lib
    raise KernelUnavailable(_state['error'])


def unavailable_reason() -> Optional[str]:
    """None if the fused kernel runs here, else why not."""
    try:
        library()
    except KernelUnavailable as e:
        return str(e)
    return None


def _declare(lib: ctypes.CDLL) -> None:
    ptr, arr, i32 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), \
        ctypes.c_int
    lib.mmdtf_fa_last_error.restype = ctypes.c_char_p
    lib.mmdtf_fa_forward.argtypes = [i32, i32, arr, ptr, arr, ptr, arr, ptr,
                                     arr]
    lib.mmdtf_fa_backward.argtypes = [i32, i32, arr, ptr, arr, ptr, arr,
                                      ptr, arr, ptr, arr, ptr, arr]


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


def forward(x: torch.Tensor,
            kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y`` in the dtype and layout of ``x``, and ``corr`` (N, k*k, T, H,
    W) in the accumulation type (float32, or float64 for float64)."""
    if not _built_for(kernel_size):
        return torch_kernel.forward(x, kernel_size)
    lib = library()
    y, corr = empty_outputs(x, kernel_size)
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
