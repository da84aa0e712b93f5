"""DTF's spectral modulation ``f' = iDFT(DFT(y) * S_c)`` over time (spec
section 2), as one registered operator.

With ``spectral_impl='matmul'`` and no channel mixing the computation is
``mmdtf::spectral_modulation``, whose gradient is another,
``mmdtf::spectral_modulation_backward``. On CPU tensors their kernels are
the fused C++ kernel (:mod:`mmdtf.ops.spectral_modulation_cpu`: one read of
``y`` and one write of ``f'`` where the PyTorch path makes a pass per
matrix and complex product), in eager mode and under ``torch.compile``; on
other devices, and on CPU where the kernel cannot be built (said once),
:func:`modulated_spectrum` and the inverse transform, plain PyTorch.
Under ``torch.compile`` the operator is one node on every device: inductor
generates no kernels for the DFT products and the complex product, forward
or backward (fusing them bought nothing measurable and cost a set of
generated C++ kernels per stage resolution, docs/user_guides/compile.md).
FLOP counting (``torch.jit`` tracing) and ONNX export run the PyTorch
path, whose operators they count and translate.
"""
import warnings
from typing import Tuple

import torch

from mmdtf.ops import spectral_modulation_cpu
from .spectral_transforms import (SPECTRAL_TRANSFORMS, Spectrum, _matmul_time,
                                  dft_matrices)


def complex_mul(a: Spectrum, b: Spectrum) -> Spectrum:
    """Element-wise product of two (real, imag) pairs (broadcasting); the
    result has the shape and memory layout of ``a`` broadcast with ``b``."""
    # Two passes per part instead of three; in place is safe for autograd,
    # which keeps the factors of a product, not the product.
    real = (a[0] * b[0]).addcmul_(a[1], b[1], value=-1)
    imag = (a[0] * b[1]).addcmul_(a[1], b[0])
    return real, imag


def _grouped(spec: Spectrum, groups: int) -> Spectrum:
    """(N, C, M, H, W) parts as (N, C/G, G, M, H, W): the channels that share
    a filter on their own axis."""
    n, c, m, h, w = spec[0].shape
    return (spec[0].view(n, groups, c // groups, m, h, w),
            spec[1].view(n, groups, c // groups, m, h, w))


def _ungrouped(spec: Spectrum) -> Spectrum:
    # (flatten, not a view to a computed size: traced size arithmetic would
    # show in FLOP counts)
    return spec[0].flatten(1, 2), spec[1].flatten(1, 2)


def modulated_spectrum(y: torch.Tensor, filt: Spectrum,
                       spectral_impl: str = 'matmul') -> Spectrum:
    """The spectrum of ``y`` (N, C, T, H, W) over time times the filter
    ``filt``, a pair of (N, C/G, 1, M, H, W) tensors, each shared by ``G``
    consecutive channels: a pair of (N, C, M, H, W) tensors."""
    forward_transform = SPECTRAL_TRANSFORMS[spectral_impl][0]
    spec = forward_transform(y)
    filt = (filt[0].to(spec[0].dtype), filt[1].to(spec[0].dtype))
    return _ungrouped(complex_mul(_grouped(spec, filt[0].shape[1]), filt))


def spectral_modulation(y: torch.Tensor, filt_real: torch.Tensor,
                        filt_imag: torch.Tensor,
                        spectral_impl: str = 'matmul') -> torch.Tensor:
    """``iDFT(DFT(y) * filt)``, back in the dtype of ``y``: the operator
    (``'matmul'``) while compiling and on CPU tensors, plain PyTorch
    otherwise and for FLOP counting and ONNX export."""
    if (spectral_impl == 'matmul' and not torch.onnx.is_in_onnx_export()
            and not torch.jit.is_tracing()
            and (torch.compiler.is_compiling() or y.device.type == 'cpu')):
        return spectral_modulation_op(y, filt_real, filt_imag)
    return _modulated(y, filt_real, filt_imag, spectral_impl)


_warned = set()


def _fused_runs_on(y: torch.Tensor) -> bool:
    """Whether the fused CPU kernel takes ``y``; where it cannot, why is
    said once per reason."""
    reason = spectral_modulation_cpu.unavailable_reason(y)
    if reason is not None and reason not in _warned:
        _warned.add(reason)
        warnings.warn(
            'spectral_modulation: the fused CPU kernel does not run on '
            f'{reason}; the DFT products run as PyTorch matrix products '
            '(slower).', RuntimeWarning, stacklevel=3)
    return reason is None


def _dft(y: torch.Tensor, dtype: torch.dtype):
    t = y.shape[2]
    return (*dft_matrices(t, False, dtype, y.device),
            *dft_matrices(t, True, dtype, y.device))


def _modulated(y: torch.Tensor, filt_real: torch.Tensor,
               filt_imag: torch.Tensor, spectral_impl: str) -> torch.Tensor:
    spec = modulated_spectrum(y, (filt_real, filt_imag), spectral_impl)
    inverse_transform = SPECTRAL_TRANSFORMS[spectral_impl][1]
    return inverse_transform(spec, y.shape[2], y.dtype)


def _frames_outermost(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An empty (N, C, T, H, W) tensor stored (N, T, C, H, W), as the
    matmul transforms return their results."""
    n, c, t, h, w = y.shape
    return y.new_empty((n, t, c, h, w), dtype=dtype).transpose(1, 2)


@torch.library.custom_op('mmdtf::spectral_modulation', mutates_args=())
def spectral_modulation_op(y: torch.Tensor, filt_real: torch.Tensor,
                           filt_imag: torch.Tensor) -> torch.Tensor:
    """:func:`spectral_modulation` with ``spectral_impl='matmul'``: the
    PyTorch path (devices without a kernel of their own)."""
    return _modulated(y, filt_real, filt_imag, 'matmul')


@spectral_modulation_op.register_kernel('cpu')
def _spectral_modulation_cpu(y, filt_real, filt_imag):
    if not _fused_runs_on(y):
        return _modulated(y, filt_real, filt_imag, 'matmul')
    work = spectral_modulation_cpu.accumulation_dtype(y.dtype)
    return spectral_modulation_cpu.forward(y, filt_real, filt_imag,
                                           _dft(y, work))


@spectral_modulation_op.register_fake
def _spectral_modulation_fake(y, filt_real, filt_imag):
    return _frames_outermost(y, y.dtype)


@torch.library.custom_op('mmdtf::spectral_modulation_backward',
                         mutates_args=())
def spectral_modulation_backward_op(
        grad: torch.Tensor, y: torch.Tensor, filt_real: torch.Tensor,
        filt_imag: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of :func:`spectral_modulation_op` with respect to
    ``y``, ``filt_real`` and ``filt_imag``.

    With the DFT ``S = F y`` (``F = F_r + i F_i``, (M, T)), the product
    ``P = S * H`` and the inverse ``f = I_r Re(P) + I_i Im(P)`` ((T, M)
    each), the gradient ``g`` of ``f`` gives ``g_P = (I_r^T g, I_i^T g)``,
    ``g_S = g_P * conj(H)``, ``g_y = F_r^T Re(g_S) + F_i^T Im(g_S)`` and
    ``g_H = sum over the G channels sharing H of g_P * conj(S)``.
    """
    return _backward_in_pytorch(grad, y, filt_real, filt_imag)


def _backward_in_pytorch(grad, y, filt_real, filt_imag):
    work = torch.float32 if y.dtype in (torch.float16,
                                        torch.bfloat16) else y.dtype
    fwd_real, fwd_imag, inv_real, inv_imag = _dft(y, work)
    grad = grad.to(work)
    grad_p = _grouped((_matmul_time(inv_real.t(), grad),
                       _matmul_time(inv_imag.t(), grad)), filt_real.shape[1])
    filt = (filt_real.to(work), filt_imag.to(work))
    grad_s = _ungrouped(complex_mul(grad_p, (filt[0], -filt[1])))
    grad_y = _matmul_time(fwd_real.t(), grad_s[0])
    grad_y = grad_y.add_(_matmul_time(fwd_imag.t(), grad_s[1])).to(y.dtype)
    spec = _grouped(SPECTRAL_TRANSFORMS['matmul'][0](y), filt_real.shape[1])
    grad_h = complex_mul(grad_p, (spec[0], -spec[1]))
    return (grad_y,
            grad_h[0].sum(2, keepdim=True).to(filt_real.dtype).contiguous(),
            grad_h[1].sum(2, keepdim=True).to(filt_imag.dtype).contiguous())


@spectral_modulation_backward_op.register_kernel('cpu')
def _spectral_modulation_backward_cpu(grad, y, filt_real, filt_imag):
    if not _fused_runs_on(y):
        return _backward_in_pytorch(grad, y, filt_real, filt_imag)
    work = spectral_modulation_cpu.accumulation_dtype(y.dtype)
    return spectral_modulation_cpu.backward(grad, y, filt_real, filt_imag,
                                            _dft(y, work))


@spectral_modulation_backward_op.register_fake
def _spectral_modulation_backward_fake(grad, y, filt_real, filt_imag):
    return (_frames_outermost(y, y.dtype),
            filt_real.new_empty(filt_real.shape),
            filt_imag.new_empty(filt_imag.shape))


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad: torch.Tensor):
    grads = spectral_modulation_backward_op(grad, *ctx.saved_tensors)
    return tuple(g if needed else None
                 for g, needed in zip(grads, ctx.needs_input_grad))


spectral_modulation_op.register_autograd(_backward,
                                         setup_context=_setup_context)
