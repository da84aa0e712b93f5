"""DTF's dynamic filter, the estimate (:mod:`.filter_estimation`) and the
spectral modulation with it (:mod:`.spectral_modulation`), as one registered
operator under ``torch.compile``: ``mmdtf::estimate_and_modulate``, whose
gradient is another, ``mmdtf::estimate_and_modulate_backward``.

Compiled as two operators, the estimated filter crossed the graph between
them and ``y`` fed both: inductor generated, per stage resolution, a copy of
the filter's real and imaginary parts for the modulation and, in training,
a kernel assembling the filter's gradient from theirs and summing the two
gradients of ``y`` (docs/user_guides/compile.md). In one operator the filter
is an intermediate of its kernels: it is returned as a second output only to
be saved for the backward. Used where both operators would run (compiling,
outside autocast and ONNX export, ``spectral_impl='matmul'``, no channel
mixing, filters shared by groups); eager mode runs the two, as before.
"""
from typing import Optional, Tuple

import torch

from .filter_estimation import (filter_estimate_backward_op,
                                filter_estimate_op)
from .spectral_modulation import (_frames_outermost,
                                  spectral_modulation_backward_op,
                                  spectral_modulation_op)
from .spectral_transforms import Spectrum


def filter_parts(filt: torch.Tensor, groups: int) -> Spectrum:
    """The estimator's output (N, 2 * groups * M, H, W), channels in (part,
    group, bin) order, as the (real, imaginary) pair of (N, groups, 1, M, H,
    W) filters the modulation takes (views)."""
    n, out, h, w = filt.shape
    parts = filt.view(n, 2, groups, 1, out // (2 * groups), h, w)
    return parts[:, 0], parts[:, 1]


@torch.library.custom_op('mmdtf::estimate_and_modulate', mutates_args=())
def estimate_and_modulate_op(
        y: torch.Tensor, corr: Optional[torch.Tensor], weight: torch.Tensor,
        bias: Optional[torch.Tensor], rms: bool,
        groups: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(f', filt)``: ``y`` (N, C, T, H, W) modulated by the filter
    estimated from ``y`` and ``corr`` by the 1x1 convolution ``weight``
    (``bias``, the rms scaling ``rms``), and that filter (N, O, H, W)."""
    filt = filter_estimate_op(y, corr, weight, bias, rms)
    return spectral_modulation_op(y, *filter_parts(filt, groups)), filt


@estimate_and_modulate_op.register_fake
def _estimate_and_modulate_fake(y, corr, weight, bias, rms, groups):
    n, _, _, h, w = y.shape
    return (_frames_outermost(y, y.dtype),
            y.new_empty((n, weight.shape[0], h, w)))


@torch.library.custom_op('mmdtf::estimate_and_modulate_backward',
                         mutates_args=())
def estimate_and_modulate_backward_op(
        grad: Optional[torch.Tensor], grad_filt: Optional[torch.Tensor],
        filt: torch.Tensor, y: torch.Tensor, corr: Optional[torch.Tensor],
        weight: torch.Tensor, bias: Optional[torch.Tensor], rms: bool,
        groups: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of :func:`estimate_and_modulate_op` with respect to
    ``y``, ``corr``, ``weight`` and ``bias`` (empty tensors for an absent
    ``corr`` or ``bias``), from those of its outputs (``grad`` or
    ``grad_filt`` None where that output is unused): the modulation's
    gradients, the filter's through the estimator, and ``y``'s two
    summed."""
    grad_y = None
    if grad is not None:
        grad_y, grad_real, grad_imag = spectral_modulation_backward_op(
            grad, y, *filter_parts(filt, groups))
        # back to the estimator's channel order (part, group, bin)
        through_filt = torch.stack([grad_real, grad_imag], 1).view(filt.shape)
        grad_filt = through_filt if grad_filt is None \
            else through_filt.add_(grad_filt)
    estimated = filter_estimate_backward_op(grad_filt, filt, y, corr, weight,
                                            bias, rms)
    grad_y = estimated[0] if grad_y is None else grad_y.add_(estimated[0])
    return (grad_y, *estimated[1:])


@estimate_and_modulate_backward_op.register_fake
def _estimate_and_modulate_backward_fake(grad, grad_filt, filt, y, corr,
                                         weight, bias, rms, groups):
    grad_corr = corr.new_empty(corr.shape) if corr is not None \
        else weight.new_empty(0)
    grad_bias = bias.new_empty(bias.shape) if bias is not None \
        else weight.new_empty(0)
    return (_frames_outermost(y, y.dtype), grad_corr,
            weight.new_empty(weight.shape), grad_bias)


def _setup_context(ctx, inputs, output) -> None:
    y, corr, weight, bias, rms, groups = inputs
    ctx.rms, ctx.groups = rms, groups
    # an unused output then gets grad None: no zero tensor to read
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(output[1], y, corr, weight, bias)


def _backward(ctx, grad: Optional[torch.Tensor],
              grad_filt: Optional[torch.Tensor]):
    if grad is None and grad_filt is None:
        return (None, ) * 6
    filt, y, corr, weight, bias = ctx.saved_tensors
    grads = estimate_and_modulate_backward_op(grad, grad_filt, filt, y, corr,
                                              weight, bias, ctx.rms,
                                              ctx.groups)
    return tuple(g if needed else None
                 for g, needed in zip(grads, ctx.needs_input_grad[:4])) \
        + (None, None)


estimate_and_modulate_op.register_autograd(_backward,
                                           setup_context=_setup_context)
