"""A DTF block's tail without autograd, in one pass over the feature.

After FA, DTF's block (spec sections 2 and 3) makes, in eager mode, a pass
over the feature per step: the estimator's rms of ``y`` (a square and a
mean), its convolution, the scaling of that by the rms, the spectral
modulation, and the residual ``x + gamma * f' + beta`` (two passes). Where
nothing needs their gradients (inference: ``torch.no_grad`` or
``torch.inference_mode``) on CPU tensors, the estimator's convolution runs
as matrix products of ``y`` and of ``corr``, neither scaled nor biased, and
the fused CPU kernel (``block_tail`` of
:mod:`mmdtf.ops.spectral_modulation_cpu`) does the rest pixel tile by pixel
tile: the rms of the tile's ``C x T`` values, the filter ``r a + r^2 b +
bias``, the modulation and the residual, reading ``y`` from cache the second
time and never storing ``f'``. The same numbers as the block's other path up
to rounding (tests/models/blocks/test_fused_tail.py checks both against the
naive reference).

Only DTF's filter in its default form takes it (:func:`runs_fused_tail`),
in eager mode and under ``torch.compile`` (as one operator,
``mmdtf::block_tail``); training, tracing (FLOP counting), ONNX export and
autocast run the block's operators as before, and where the kernel cannot
be built the spectral modulation's fallback says so.
"""
from typing import Optional

import torch

from mmdtf.ops import spectral_modulation_cpu
from .filter_estimation import EPS, _y_columns
from .spectral_filters import DynamicSpectralFilter
from .spectral_modulation import _dft


def runs_fused_tail(filt: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether a block with filter ``filt`` computes its output from ``x``
    through :func:`fused_tail`."""
    return (isinstance(filt, DynamicSpectralFilter) and filt.mixing is None
            and filt.filter_sharing == 'groups'
            and filt.spectral_impl == 'matmul'
            and x.device.type == 'cpu' and not torch.is_grad_enabled()
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
            and not torch.is_autocast_enabled('cpu')
            and _kernel_runs_on(x.dtype, x.shape[2]))


# Evaluated when torch.compile traces a call, its result a constant of the
# graph (dynamo does not trace the build).
@torch.compiler.assume_constant_result
def _kernel_runs_on(dtype: torch.dtype, frames: int) -> bool:
    return spectral_modulation_cpu.unavailable_reason(
        torch.empty(1, 1, frames, 1, 1, dtype=dtype)) is None


def estimator_products(y: torch.Tensor, corr: Optional[torch.Tensor],
                       weight: torch.Tensor):
    """The estimator's 1x1 convolution ``weight`` (O, (C + k*k) * T, 1, 1)
    of ``y`` (N, C, T, H, W) and of ``corr`` (N, k*k, T, H, W) or None,
    apart: two (N, O, H, W) tensors (the second None without corr)."""
    n, c, t, h, w = y.shape
    out = weight.shape[0]
    columns = weight.flatten(1)
    if n * h * w < out:
        # y copied in the weight's (C, T) order is the smaller copy (the
        # deepest stages): the weight's columns are then read in place
        from_y = torch.matmul(columns[:, :c * t],
                              y.reshape(n, c * t, h * w))
    else:
        from_y = torch.matmul(_y_columns(weight, c, t),
                              y.transpose(1, 2).reshape(n, t * c, h * w))
    from_corr = None
    if corr is not None:
        from_corr = torch.matmul(columns[:, c * t:],
                                 corr.reshape(n, -1, h * w).to(y.dtype))
        from_corr = from_corr.view(n, out, h, w)
    return from_y.view(n, out, h, w), from_corr


def fused_tail(filt: DynamicSpectralFilter, y: torch.Tensor,
               corr: Optional[torch.Tensor], x: torch.Tensor,
               gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``x + gamma * filt(y, corr) + beta`` (see the module's docstring):
    one operator while compiling (inductor then generates no kernel for
    the residual), the function itself in eager mode."""
    tail = block_tail_op if torch.compiler.is_compiling() else _block_tail
    return tail(y, corr, x, filt.estimator.weight, filt.estimator.bias,
                gamma, beta, filt.estimator_input.norm == 'rms', filt.groups)


def _block_tail(y: torch.Tensor, corr: Optional[torch.Tensor],
                x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor], gamma: torch.Tensor,
                beta: torch.Tensor, rms: bool, groups: int) -> torch.Tensor:
    from_y, from_corr = estimator_products(y, corr, weight)
    work = spectral_modulation_cpu.accumulation_dtype(y.dtype)
    return spectral_modulation_cpu.block_tail(
        y, x, from_y, from_corr, bias, EPS if rms else None, groups,
        gamma.flatten(), beta.flatten(), _dft(y, work))


# No autograd: only called where nothing needs gradients.
block_tail_op = torch.library.custom_op('mmdtf::block_tail',
                                        mutates_args=())(_block_tail)


@block_tail_op.register_fake
def _block_tail_fake(y, corr, x, weight, bias, gamma, beta, rms, groups):
    return torch.empty_like(x)
