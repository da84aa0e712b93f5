"""FA's public API: input checks, the choice of backend (the one place it is
made) and the function and module users call."""
import logging
import warnings
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log

from .cpp_kernel import unavailable_reason as cpp_unavailable_reason
from .cupy_kernel import cupy_unavailable_reason, install_hint
from .custom_op import frame_aggregation_op
from .export import frame_aggregation_export

BACKENDS = ('auto', 'torch', 'cupy', 'cpp')
SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32,
                    torch.float64)
# what was said once per process: the 'auto' choices logged, the reasons of
# the fallback warned about
_logged_choices = set()
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


# Evaluated when torch.compile traces a call, its result a constant of the
# graph: dynamo does not trace the CuPy probe, the warning or the log.
@torch.compiler.assume_constant_result
def choose_backend(device_type: str, device_index: Optional[int],
                   backend: str) -> str:
    """The kernel a ``backend`` request runs on a device: ``'torch'``,
    ``'cupy'`` or ``'cpp'``. ``'auto'`` takes the CuPy kernels on CUDA and
    the fused C++ kernel on CPU when they work (logged once per device and
    choice), else the PyTorch path (with a warning, once per reason);
    ``'cupy'`` or ``'cpp'`` where it cannot run raises naming the reason
    and the fix."""
    check_backend(backend)
    if backend == 'torch':
        return 'torch'
    device = torch.device(device_type, device_index)
    if backend == 'cupy' and device_type != 'cuda':
        raise RuntimeError(
            "frame_aggregation backend='cupy' needs a CUDA tensor, got "
            f'a tensor on {device}; use backend=\'auto\' or \'cpp\' '
            '(backbone key `dtf_cfg.backend`) on CPU.')
    if backend == 'cpp' and device_type != 'cpu':
        raise RuntimeError(
            "frame_aggregation backend='cpp' (the fused CPU kernel) needs a "
            f'CPU tensor, got a tensor on {device}; use backend=\'auto\' '
            '(backbone key `dtf_cfg.backend`).')
    if device_type == 'cpu':
        reason = cpp_unavailable_reason()
        chosen, why = _kernel_or_fallback(
            backend, 'cpp', reason, 'the fused C++ kernel',
            'the slower PyTorch path',
            f'its fused C++ kernel cannot be built: {reason}',
            'It is compiled on first use: install a C++ compiler (or point '
            'CXX at one) and ninja')
    elif device_type == 'cuda':
        reason = cupy_unavailable_reason(device)
        chosen, why = _kernel_or_fallback(
            backend, 'cupy', reason, 'the CuPy kernels',
            'the slower pure-PyTorch path',
            f'the CuPy backend is unavailable: {reason}',
            f'Install CuPy with `{install_hint()}`')
    else:
        chosen, why = 'torch', 'the PyTorch path'
    if backend == 'auto' and (device_type, chosen) not in _logged_choices:
        _logged_choices.add((device_type, chosen))
        print_log(f"frame_aggregation: backend='auto' runs {why} on "
                  f'{device_type} tensors', logger='current',
                  level=logging.INFO)
    return chosen


def _kernel_or_fallback(backend: str, kernel: str, reason: Optional[str],
                        kernel_why: str, fallback_why: str, because: str,
                        fix: str) -> Tuple[str, str]:
    """``(chosen, why)`` on a device whose own kernel is ``kernel``: it where
    it works (``reason`` None); asked for by name where it cannot run, an
    error naming ``reason`` and ``fix``; else the PyTorch path with a
    warning, once per reason."""
    if reason is None:
        return kernel, kernel_why
    if backend == kernel:
        raise RuntimeError(
            f"frame_aggregation backend='{kernel}' cannot run: {reason}. "
            f"{fix}, or set backend='auto' or 'torch' (backbone key "
            '`dtf_cfg.backend`).')
    if reason not in _warned_fallback:
        _warned_fallback.add(reason)
        device = 'CUDA' if kernel == 'cupy' else 'CPU'
        warnings.warn(
            f'frame_aggregation runs {fallback_why} on {device} because '
            f'{because}. {fix}.',
            # stacklevel: the caller of frame_aggregation
            RuntimeWarning, stacklevel=4)
    return 'torch', fallback_why


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
            the fused C++ kernel for CPU tensors when it builds, else
            PyTorch), ``'torch'``, ``'cupy'`` or ``'cpp'``. During ONNX export
            (``torch.onnx.is_in_onnx_export()``) every backend runs
            :func:`frame_aggregation_export` instead.

    Returns:
        ``y`` of the shape and dtype of ``x`` and the raw (pre-softmax)
        correlation ``corr`` of shape ``(N, k*k, T, H, W)``, in the dtype of
        ``x``; its last frame is zero.
    """
    check_frame_aggregation_input(x, kernel_size)
    if torch.onnx.is_in_onnx_export():
        return frame_aggregation_export(x, kernel_size)
    chosen = choose_backend('cuda' if x.is_cuda else x.device.type,
                            x.device.index, backend)
    y, corr = frame_aggregation_op(x, kernel_size, chosen)
    return y, corr.to(x.dtype)


def frame_aggregation_torch(x: torch.Tensor,
                            kernel_size: int) -> Tuple[torch.Tensor,
                                                       torch.Tensor]:
    """FA on the PyTorch path on any device, both outputs in the dtype of
    ``x``."""
    y, corr = frame_aggregation_op(x, kernel_size, 'torch')
    return y, corr.to(x.dtype)


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
