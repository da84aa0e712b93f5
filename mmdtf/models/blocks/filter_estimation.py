"""The filter estimator's 1x1 convolution over ``z = concat(y, corr)``
(:mod:`.estimator_input`), computed without building ``z``, and its
registered-operator form for ``torch.compile``.

Eager mode and FLOP counting run :func:`_estimated`, plain PyTorch
(autograd differentiates it). Under ``torch.compile`` (outside autocast and
ONNX export) the same computation is one registered operator,
``mmdtf::filter_estimate``, whose gradient is another,
``mmdtf::filter_estimate_backward``: inductor then generates no kernels for
the estimator (the copies of the weight's columns in the order the split
convolution reads them, the rms scaling), forward or backward, kernels that
were most of what DTF-Net still compiled beyond C2D
(docs/user_guides/compile.md). Under autocast the composite is traced, so
that its convolutions autocast as in eager mode.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

# Added to the mean square: a location whose feature is all zeros (after a
# ReLU) gives zeros, not a division by zero.
EPS = 1e-6


def inv_rms(y: torch.Tensor) -> torch.Tensor:
    """(N, 1, 1, H, W): 1 / the root mean square of ``y`` (N, C, T, H, W)
    over channels and frames, in float32 at least (float16 squares overflow
    from 256)."""
    wide = y if y.dtype == torch.float64 else y.float()
    mean_square = wide.square().mean(dim=(1, 2), keepdim=True)
    return mean_square.add_(EPS).rsqrt_()


def estimate_filter(y: torch.Tensor, corr: Optional[torch.Tensor],
                    weight: torch.Tensor, bias: Optional[torch.Tensor],
                    rms: bool) -> torch.Tensor:
    """``conv(z)`` for the 1x1 convolution ``weight`` (O, (C + k*k) * T, 1,
    1), ``bias`` (O,) or None, of ``z`` = ``y`` (N, C, T, H, W) and ``corr``
    (N, k*k, T, H, W) or None, each scaled by the rms of ``y`` (``rms``):
    (N, O, H, W). One operator while compiling, plain PyTorch otherwise."""
    if estimated_as_operator(y):
        return filter_estimate_op(y, corr, weight, bias, rms)
    return _estimated(y, corr, weight, bias, rms)


def estimated_as_operator(y: torch.Tensor) -> bool:
    """Whether the estimate of ``y``'s filter runs as a registered operator:
    while compiling, outside ONNX export and autocast (under autocast the
    composite is traced, so that its convolutions autocast)."""
    return (torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export()
            and not torch.is_autocast_enabled(y.device.type))


def _y_columns(weight: torch.Tensor, c: int, t: int) -> torch.Tensor:
    """The (O, T * C) columns of ``weight`` that multiply ``y``, in (T, C)
    order (the state dict's are (C, T)), so that ResNetDTF's (N, T, C, H, W)
    memory is read in place."""
    out = weight.shape[0]
    return weight.flatten(1)[:, :c * t].view(out, c, t).transpose(1, 2) \
        .reshape(out, t * c)


def _estimated(y: torch.Tensor, corr: Optional[torch.Tensor],
               weight: torch.Tensor, bias: Optional[torch.Tensor],
               rms: bool) -> torch.Tensor:
    # the convolution split into its y and corr columns; the rms scaling,
    # one number per clip and location, applied to their (much smaller)
    # outputs
    n, c, t, h, w = y.shape
    w_y = _y_columns(weight, c, t)
    filt = F.conv2d(y.transpose(1, 2).reshape(n, t * c, h, w),
                    w_y[:, :, None, None])
    if corr is not None:
        w_c = weight.flatten(1)[:, c * t:, None, None]
        corr_filt = F.conv2d(corr.reshape(n, -1, h, w).to(y.dtype), w_c)
    if rms:
        scale = inv_rms(y)[:, 0].to(filt.dtype)
        filt = filt.mul_(scale)
        if corr is not None:
            filt = filt.addcmul_(corr_filt, scale.square())
    elif corr is not None:
        filt = filt.add_(corr_filt)
    if bias is not None:
        filt = filt.add_(bias.view(1, -1, 1, 1).to(filt.dtype))
    return filt


@torch.library.custom_op('mmdtf::filter_estimate', mutates_args=())
def filter_estimate_op(y: torch.Tensor, corr: Optional[torch.Tensor],
                       weight: torch.Tensor, bias: Optional[torch.Tensor],
                       rms: bool) -> torch.Tensor:
    """:func:`estimate_filter`'s computation, contiguous."""
    return _estimated(y, corr, weight, bias, rms).contiguous()


@filter_estimate_op.register_fake
def _filter_estimate_fake(y, corr, weight, bias, rms):
    n, _, _, h, w = y.shape
    return y.new_empty((n, weight.shape[0], h, w))


def _matmul_pixels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum over (n, p) of a[n, i, p] * b[n, j, p]``: (I, J)."""
    return torch.einsum('nip,njp->ij', a, b)


@torch.library.custom_op('mmdtf::filter_estimate_backward', mutates_args=())
def filter_estimate_backward_op(
        grad: torch.Tensor, filt: torch.Tensor, y: torch.Tensor,
        corr: Optional[torch.Tensor], weight: torch.Tensor,
        bias: Optional[torch.Tensor], rms: bool
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of :func:`filter_estimate_op` (output ``filt``) with
    respect to ``y``, ``corr``, ``weight`` and ``bias`` (empty tensors for
    an absent ``corr`` or ``bias``).

    With ``P = (H * W)`` pixels, ``A = W_y y`` and ``B = W_c corr`` ((N, O,
    P) each) and the scale ``r = (mean over (C, T) of y^2 + eps)^-1/2``,
    ``filt = r A + r^2 B + b``; for the gradient ``g`` of ``filt``:
    ``g_A = r g``, ``g_B = r^2 g``, ``g_W = g_A y^T`` and ``g_A corr^T``
    summed over clips and pixels, ``g_b = sum g``, and ``g_y = W_y^T g_A +
    g_r dr/dy`` with ``g_r = sum over O of g (A + 2 r B)``, which is ``sum
    of g (filt - b + r^2 B) / r`` (no second product with ``y``'s columns)
    and ``dr/dy = -r^3 y / (C T)``.
    """
    n, c, t, h, w = y.shape
    out = weight.shape[0]
    y_cols = y.transpose(1, 2).reshape(n, t * c, h * w)
    g = grad.reshape(n, out, h * w).to(y.dtype)
    w_y = _y_columns(weight, c, t).to(y.dtype)
    if rms:
        scale = inv_rms(y)[:, 0].reshape(n, 1, h * w)
        g_a = g * scale.to(g.dtype)
        g_b = g_a * scale.to(g.dtype)
    else:
        g_a = g_b = g
    grad_y = torch.matmul(w_y.t(), g_a)  # (N, T * C, P)
    grad_w = _matmul_pixels(g_a, y_cols).view(out, t, c).transpose(1, 2) \
        .reshape(out, c * t)
    grad_corr = weight.new_empty(0)
    if corr is not None:
        corr_cols = corr.reshape(n, -1, h * w).to(y.dtype)
        w_c = weight.flatten(1)[:, c * t:].to(y.dtype)
        grad_corr = torch.matmul(w_c.t(), g_b).view(corr.shape).to(corr.dtype)
        grad_w = torch.cat([grad_w, _matmul_pixels(g_b, corr_cols)], dim=1)
    if rms:
        # g_r * r, from filt, in float32 at least (inv_rms's precision)
        work = scale.dtype
        shifted = filt.reshape(n, out, h * w).to(work)
        if bias is not None:
            shifted = shifted - bias.to(work).view(1, out, 1)
        if corr is not None:
            shifted = shifted.addcmul(torch.matmul(w_c, corr_cols).to(work),
                                      scale.square())
        g_r_r = (grad.reshape(n, out, h * w).to(work) * shifted).sum(
            1, keepdim=True)
        # dr/dy = -r^3 y / (C T): g_r dr/dy = -(g_r r) r^2 y / (C T)
        coef = g_r_r.mul_(scale.square()).div_(-c * t).to(y.dtype)
        grad_y = grad_y.addcmul_(y_cols, coef)
    grad_y = grad_y.view(n, t, c, h, w).transpose(1, 2)
    grad_bias = grad.sum((0, 2, 3)).to(bias.dtype) if bias is not None \
        else weight.new_empty(0)
    return (grad_y, grad_corr, grad_w.view(weight.shape).to(weight.dtype),
            grad_bias)


@filter_estimate_backward_op.register_fake
def _filter_estimate_backward_fake(grad, filt, y, corr, weight, bias, rms):
    n, c, t, h, w = y.shape
    grad_y = y.new_empty((n, t, c, h, w)).transpose(1, 2)
    grad_corr = corr.new_empty(corr.shape) if corr is not None \
        else weight.new_empty(0)
    grad_bias = bias.new_empty(bias.shape) if bias is not None \
        else weight.new_empty(0)
    return grad_y, grad_corr, weight.new_empty(weight.shape), grad_bias


def _setup_context(ctx, inputs, output) -> None:
    y, corr, weight, bias, rms = inputs
    ctx.rms = rms
    ctx.save_for_backward(output, y, corr, weight, bias)


def _backward(ctx, grad: torch.Tensor):
    filt, y, corr, weight, bias = ctx.saved_tensors
    grads = filter_estimate_backward_op(grad, filt, y, corr, weight, bias,
                                        ctx.rms)
    return tuple(g if needed else None
                 for g, needed in zip(grads, ctx.needs_input_grad[:4])) \
        + (None, )


filter_estimate_op.register_autograd(_backward, setup_context=_setup_context)
