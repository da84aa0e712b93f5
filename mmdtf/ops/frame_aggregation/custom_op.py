"""The registered operators ``mmdtf::frame_aggregation`` and
``mmdtf::frame_aggregation_backward``: one schema each, a fake
implementation, the autograd formula, and a kernel per device.

A registered operator (``torch.library.custom_op``) rather than an autograd
Function: ``torch.compile`` keeps it as one opaque node with known outputs
(the fake implementation), on every device, so a compiled model is one graph
with one FA node per DTF block; it neither traces the kernels (the PyTorch
kernel's k*k-offset loops with their ``out=`` buffers, which inductor made
slower than eager and took minutes to compile; the CuPy launches, which it
cannot trace) nor reads Python-side state (the mask cache) through guards.
docs/user_guides/compile.md, docs/internals/ops.md.

The backend reaches the op as a ``str`` argument of its schema, already
resolved by the public API (``'torch'`` or ``'cupy'``, never ``'auto'``):
the fake implementation needs it, since the two kernels lay their outputs
out differently (the PyTorch kernel keeps ``corr`` in float32 for half
inputs, for its backward's softmax; the CuPy kernel recomputes the softmax
and returns the input's dtype), and a compiled graph records which kernel it
was traced with. A global switch would be state the compiled graph cannot
see, and a separate operator per backend would be one more schema, fake and
autograd formula to keep in step.
"""
import functools
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch

from . import cpp_kernel, cupy_kernel, torch_kernel


class Kernel(NamedTuple):
    """One implementation of FA's forward and backward (see
    ``torch_kernel.py`` for the signatures)."""
    forward: Callable[[torch.Tensor, int], Tuple[torch.Tensor, torch.Tensor]]
    backward: Callable[..., torch.Tensor]
    #: the fake implementations: outputs laid out as the kernel's
    empty_outputs: Callable[[torch.Tensor, int], Tuple[torch.Tensor,
                                                       torch.Tensor]]
    empty_grad: Callable[[torch.Tensor, int], torch.Tensor]
    #: whether the backward reads the forward's ``corr`` (else it is not
    #: kept for the backward)
    needs_corr: bool


PYTORCH = Kernel(torch_kernel.forward, torch_kernel.backward,
                 torch_kernel.empty_outputs, torch_kernel.empty_grad,
                 needs_corr=True)
CPP = Kernel(cpp_kernel.forward, cpp_kernel.backward,
             cpp_kernel.empty_outputs, cpp_kernel.empty_grad, needs_corr=True)
CUPY = Kernel(cupy_kernel.forward, cupy_kernel.backward,
              cupy_kernel.empty_outputs, cupy_kernel.empty_grad,
              needs_corr=False)

#: The kernel of each (device type, backend): the one table of what runs
#: where. On CPU the fused C++ kernel (``'cpp'``, what ``'auto'`` picks
#: where it builds) and the PyTorch path (``'torch'``, its oracle and
#: fallback). Devices without an entry run the PyTorch kernel (it needs
#: nothing device-specific).
KERNELS: Dict[Tuple[str, str], Kernel] = {
    ('cpu', 'cpp'): CPP,
    ('cpu', 'torch'): PYTORCH,
    ('cuda', 'torch'): PYTORCH,
    ('cuda', 'cupy'): CUPY,
}


def kernel_for(device_type: str, backend: str) -> Kernel:
    """The kernel ``backend`` names on ``device_type``; a clear error for a
    backend the device has no kernel of."""
    kernel = KERNELS.get((device_type, backend))
    if kernel is None and backend == 'torch':
        return PYTORCH
    if kernel is None:
        kernels = sorted(b for d, b in KERNELS if d == device_type)
        raise RuntimeError(
            f'mmdtf::frame_aggregation has no {backend!r} kernel for '
            f'{device_type} tensors (there: {kernels or ["torch"]}); call '
            'mmdtf.ops.frame_aggregation, which picks the backend.')
    return kernel


@torch.library.custom_op('mmdtf::frame_aggregation', mutates_args=())
def frame_aggregation_op(x: torch.Tensor, kernel_size: int,
                         backend: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """FA's forward: ``(y, corr)``, ``y`` of the shape and dtype of ``x``,
    ``corr`` (N, k*k, T, H, W) in the kernel's dtype. This body serves
    devices without a kernel of their own (see :data:`KERNELS`)."""
    return kernel_for(x.device.type, backend).forward(x, kernel_size)


@torch.library.custom_op('mmdtf::frame_aggregation_backward',
                         mutates_args=())
def frame_aggregation_backward_op(grad_y: Optional[torch.Tensor],
                                  grad_corr: Optional[torch.Tensor],
                                  x: torch.Tensor,
                                  corr: Optional[torch.Tensor],
                                  kernel_size: int,
                                  backend: str) -> torch.Tensor:
    """The gradient of :func:`frame_aggregation_op` with respect to ``x``.
    ``grad_y`` or ``grad_corr`` is None when that output is unused;
    ``corr`` is None when the kernel does not read it."""
    return kernel_for(x.device.type, backend).backward(
        grad_y, grad_corr, x, corr, kernel_size)


def _forward_on(device_type, x, kernel_size, backend):
    return kernel_for(device_type, backend).forward(x, kernel_size)


def _backward_on(device_type, grad_y, grad_corr, x, corr, kernel_size,
                 backend):
    return kernel_for(device_type, backend).backward(grad_y, grad_corr, x,
                                                     corr, kernel_size)


# The kernel per device. Each looks its kernel up in KERNELS when called,
# so an entry changed there takes effect without registering again.
for _device_type in sorted({device for device, _ in KERNELS}):
    frame_aggregation_op.register_kernel(
        _device_type, functools.partial(_forward_on, _device_type))
    frame_aggregation_backward_op.register_kernel(
        _device_type, functools.partial(_backward_on, _device_type))


@frame_aggregation_op.register_fake
def _frame_aggregation_fake(x, kernel_size, backend):
    return kernel_for(x.device.type, backend).empty_outputs(x, kernel_size)


@frame_aggregation_backward_op.register_fake
def _frame_aggregation_backward_fake(grad_y, grad_corr, x, corr, kernel_size,
                                     backend):
    return kernel_for(x.device.type, backend).empty_grad(x, kernel_size)


def _setup_context(ctx, inputs, output) -> None:
    x, kernel_size, backend = inputs
    ctx.kernel_size, ctx.backend = kernel_size, backend
    # an unused output then gets grad None: no zero tensor to read
    ctx.set_materialize_grads(False)
    needs_corr = kernel_for(x.device.type, backend).needs_corr
    ctx.save_for_backward(x, output[1] if needs_corr else None)


def _backward(ctx, grad_y: Optional[torch.Tensor],
              grad_corr: Optional[torch.Tensor]):
    x, corr = ctx.saved_tensors
    if grad_y is None and grad_corr is None:
        return None, None, None
    return frame_aggregation_backward_op(grad_y, grad_corr, x, corr,
                                         ctx.kernel_size,
                                         ctx.backend), None, None


frame_aggregation_op.register_autograd(_backward,
                                       setup_context=_setup_context)
