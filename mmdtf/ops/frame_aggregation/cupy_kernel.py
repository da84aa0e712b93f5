"""FA's CuPy kernel: the CUDA kernel of ``mmdtf::frame_aggregation``.

The kernels live in ``ops/frame_aggregation.cu`` (shipped in the wheel as
``mmdtf/.mim/ops/frame_aggregation.cu``) and are compiled by NVRTC through
CuPy at first use, once per (device, dtype, kernel size); shapes are kernel
arguments, and so are the strides of the (N, C, T) axes: contiguous input
and the (N, T, C, H, W) memory of ResNetDTF's frame batch are read in place
and ``y`` comes back in the input's layout (other layouts are copied once,
in the forward and again in the backward). They run on PyTorch's current
stream of the tensors' device, inside that device's CuPy context, and read
and write torch tensors in place through their data pointers, so no copy
crosses the two libraries. ``cupy`` is imported lazily: CPU-only installs
never need it.

Forward: one fused kernel (correlation, softmax, aggregation, residual).
Backward: one kernel recomputes the softmax per query pixel (nothing but
``x`` is saved) and stores the attention and the logit gradient
(``(N, k*k, T-1, H, W)``, float32 or float64); a second gathers every
gradient reaching ``x`` (residual, query and key terms), so no atomics are
needed and the result is deterministic. Both outputs are in the input's
dtype (float32 accumulation for float16/bfloat16).

:func:`forward` and :func:`backward` are what the registered operator runs
(``custom_op.py``); :func:`empty_outputs` and :func:`empty_grad` give its
fake implementation the exact shapes, strides and dtypes of their results.
"""
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

KERNEL_FILE = 'frame_aggregation.cu'
KERNEL_NAMES = ('fa_forward', 'fa_backward_logits', 'fa_backward_input')
# torch dtype -> the kernels' storage type (see the .cu file: 16-bit types are
# plain storage structs, so no cuda_fp16.h / cuda_bf16.h is needed)
CUDA_TYPE_NAMES = {
    torch.float64: 'double',
    torch.float32: 'float',
    torch.float16: 'fa_half',
    torch.bfloat16: 'fa_bf16',
}
NVRTC_OPTIONS = ('-std=c++17', )
_BLOCK = 256

_lock = threading.Lock()
_source: Optional[str] = None
_kernels: Dict[Tuple[int, torch.dtype, int], Dict[str, object]] = {}
_reasons: Dict[int, Optional[str]] = {}


def kernel_source_path(name: str = KERNEL_FILE) -> Path:
    """Path of the kernel source ``name`` (the wheel's ``mmdtf/.mim/ops`` or
    the checkout's ``ops/``); FileNotFoundError if missing."""
    from mmdtf.utils.resources import resource_dir
    path = resource_dir('ops') / name
    if not path.is_file():
        raise FileNotFoundError(
            f'CUDA kernel source {name!r} of frame_aggregation is missing '
            f'from {path.parent}; reinstall mmdtf (`pip install .`).')
    return path


def name_expressions(dtype: torch.dtype, kernel_size: int) -> List[str]:
    """NVRTC name expressions of the kernels for one dtype and size."""
    return [f'{k}<{CUDA_TYPE_NAMES[dtype]}, {kernel_size}>'
            for k in KERNEL_NAMES]


def _load_source() -> str:
    global _source
    if _source is None:
        _source = kernel_source_path().read_text()
    return _source


def _get_kernels(device_index: int, dtype: torch.dtype,
                 kernel_size: int) -> Dict[str, Tuple[object, int]]:
    """Compile (once) and return ``{name: (kernel, block size)}`` for a
    device, dtype and kernel size."""
    key = (device_index, dtype, kernel_size)
    kernels = _kernels.get(key)
    if kernels is not None:
        return kernels
    import cupy
    with _lock:
        kernels = _kernels.get(key)
        if kernels is None:
            exprs = name_expressions(dtype, kernel_size)
            # a module per device: CuPy loads a module on the current device
            with cupy.cuda.Device(device_index):
                module = cupy.RawModule(code=_load_source(),
                                        options=NVRTC_OPTIONS,
                                        name_expressions=exprs)
                kernels = {}
                for name, expr in zip(KERNEL_NAMES, exprs):
                    kern = module.get_function(expr)
                    # compiles and loads now, so that errors surface here;
                    # large k may use enough registers to cap the block
                    kernels[name] = (kern,
                                     min(_BLOCK, kern.max_threads_per_block))
            _kernels[key] = kernels
    return kernels


def install_hint() -> str:
    """The command that installs the CuPy wheel matching PyTorch's CUDA
    (the extras of setup.py: ``cuda12``, ``cuda13``)."""
    major = (torch.version.cuda or '').split('.')[0]
    if major in ('12', '13'):
        return f"pip install 'mmdtf[cuda{major}]'"
    return ("pip install 'mmdtf[cuda12]' or 'mmdtf[cuda13]' (the CUDA major "
            'version of your PyTorch build, `torch.version.cuda`)')


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def cupy_unavailable_reason(device: torch.device) -> Optional[str]:
    """``None`` when the CuPy backend can run on ``device``, else why not."""
    device = torch.device(device)
    try:
        import cupy
    except ImportError as e:
        return f'CuPy is not installed ({e})'
    except Exception as e:  # a broken install, e.g. a CUDA library mismatch
        return f'CuPy failed to import ({type(e).__name__}: {_first_line(e)})'
    if device.type != 'cuda':
        return f'the CuPy kernels run on CUDA devices only, not {device}'
    index = (device.index if device.index is not None else
             torch.cuda.current_device())
    if index in _reasons:
        return _reasons[index]
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device
        reason = ('CuPy sees no CUDA device '
                  f'({type(e).__name__}: {_first_line(e)})')
    else:
        reason = (None if index < count else
                  f'CuPy sees {count} CUDA device(s), so not cuda:{index}')
    if reason is None:
        try:
            _get_kernels(index, torch.float32, 3)  # the probe: compile once
        except FileNotFoundError as e:
            reason = str(e)
        except Exception as e:
            reason = ('the FA kernels failed to compile or load on cuda:'
                      f'{index} ({type(e).__name__}: {_first_line(e)})')
    _reasons[index] = reason
    return reason


def _launch(kernel_and_block: Tuple[object, int], total: int, args: tuple,
            device_index: int) -> None:
    """Launch a kernel over ``total`` threads (grid-stride loops inside) on
    PyTorch's current stream of the device."""
    if total <= 0:
        return
    import cupy
    import numpy as np
    kernel, block = kernel_and_block
    grid = min((total + block - 1) // block, 2**31 - 1)
    # int32 sizes and int64 strides as in the kernel signatures; pointers
    # go as 64-bit ints
    args = tuple(np.int32(a) if isinstance(a, int) else
                 np.int64(a.value) if isinstance(a, _Stride) else
                 np.uint64(a.ptr) for a in args)
    # The tensors' device, whatever the current one is (PyTorch's and
    # CuPy's current devices may differ), and PyTorch's current stream of
    # that device, not CuPy's: kernels queued by PyTorch before and after
    # are ordered with this one.
    with cupy.cuda.Device(device_index):
        stream = cupy.cuda.ExternalStream(
            torch.cuda.current_stream(device_index).cuda_stream,
            device_index)
        kernel((grid, ), (block, ), args, stream=stream)


class _Ptr:
    """A tensor's device pointer, or null for ``None``."""
    __slots__ = ('ptr', )

    def __init__(self, t: Optional[torch.Tensor]) -> None:
        self.ptr = 0 if t is None else t.data_ptr()


class _Stride:
    """A 64-bit stride argument."""
    __slots__ = ('value', )

    def __init__(self, value: int) -> None:
        self.value = value


def _shape_args(x: torch.Tensor) -> Tuple[object, ...]:
    """Sizes and the (N, C, T) strides of ``x``, as the kernels take them."""
    n, c, t, h, w = x.shape
    if max(n, c, t, h, w, h * w) >= 2**31:
        raise ValueError('frame_aggregation (cupy) takes dimensions and H*W '
                         f'below 2**31, got {tuple(x.shape)}')
    return (n, c, t, h, w) + tuple(_Stride(s) for s in x.stride()[:3])


def _kernel_layout(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when the kernels can read it in place: contiguous, or
    (N, T, C, H, W) memory (ResNetDTF's frame batch; no copy in and out of
    every block). Else one contiguous copy (e.g. SwinDTF's channels-last
    tokens, which the kernels would read uncoalesced)."""
    if x.is_contiguous() or x.transpose(1, 2).is_contiguous():
        return x
    return x.contiguous()


def _as_layout_of(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` in the dtype and memory layout of ``x``."""
    t = t.to(x.dtype)
    return t if t.stride() == x.stride() else torch.empty_like(x).copy_(t)


def _device_index(x: torch.Tensor) -> int:
    return (x.device.index if x.device.index is not None else
            torch.cuda.current_device())


def forward(x: torch.Tensor,
            kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y`` and ``corr`` in the dtype of ``x``; ``y`` in the layout the
    kernels read ``x`` in (:func:`_kernel_layout`)."""
    x = _kernel_layout(x)  # at most one copy per call
    n, c, t, h, w = x.shape
    y = torch.empty_like(x)  # in the layout of x
    corr = x.new_empty((n, kernel_size * kernel_size, t, h, w))
    index = _device_index(x)
    kernels = _get_kernels(index, x.dtype, kernel_size)
    _launch(kernels['fa_forward'], n * t * h * w,
            (_Ptr(x), _Ptr(y), _Ptr(corr)) + _shape_args(x), index)
    return y, corr


def backward(grad_y: Optional[torch.Tensor],
             grad_corr: Optional[torch.Tensor], x: torch.Tensor,
             corr: Optional[torch.Tensor], kernel_size: int) -> torch.Tensor:
    """The gradient with respect to ``x``; ``corr`` is not read (the
    kernels recompute the softmax from ``x``). A None gradient skips its
    terms (the kernels take a null pointer): only ``y`` or only ``corr``
    used, as with ``dtf_cfg.aggregate=False``."""
    x = _kernel_layout(x)
    k = kernel_size
    n, c, t, h, w = x.shape
    if grad_y is not None:
        grad_y = _as_layout_of(grad_y, x)
    if grad_corr is not None:
        grad_corr = grad_corr.to(x.dtype).contiguous()
    grad_x = torch.empty_like(x)
    index = _device_index(x)
    kernels = _get_kernels(index, x.dtype, k)
    attn = glogit = None
    if t > 1:
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        attn = x.new_empty((n, k * k, t - 1, h, w), dtype=acc)
        glogit = torch.empty_like(attn)
        _launch(kernels['fa_backward_logits'], n * (t - 1) * h * w,
                (_Ptr(x), _Ptr(grad_y), _Ptr(grad_corr), _Ptr(attn),
                 _Ptr(glogit)) + _shape_args(x), index)
    _launch(kernels['fa_backward_input'], n * t * h * w,
            (_Ptr(x), _Ptr(grad_y), _Ptr(attn), _Ptr(glogit),
             _Ptr(grad_x)) + _shape_args(x), index)
    return grad_x


def empty_outputs(x: torch.Tensor,
                  kernel_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised tensors laid out as :func:`forward`'s results."""
    x = _kernel_layout(x)
    n, _, t, h, w = x.shape
    return torch.empty_like(x), x.new_empty((n, kernel_size**2, t, h, w))


def empty_grad(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """An uninitialised tensor laid out as :func:`backward`'s result."""
    return torch.empty_like(_kernel_layout(x))
