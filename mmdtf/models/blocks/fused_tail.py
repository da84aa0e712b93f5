"""A DTF block without autograd: FA, then the rest in one pass.

DTF's block (spec sections 1-3) makes, in eager mode, a pass over the
feature per step after FA: the estimator's rms of ``y`` (a square and a
mean), its convolution, the scaling of that by the rms, the spectral
modulation, and the residual ``x + gamma * f' + beta`` (two passes). Where
nothing needs their gradients (inference: ``torch.no_grad`` or
``torch.inference_mode``) on CPU tensors:

- FA's fused C++ kernel writes ``y`` in (N, C, T, H, W) order, the order of
  the estimator's columns, which its matrix product then reads in place
  (no copy of its weight's columns or of ``y``); FA runs here only where
  the block's ``backend`` would run that kernel (and the correlation is
  aligned with the next frame), else the block's FA gives ``y``;
- the estimator's convolution runs as matrix products of ``y`` and of
  ``corr``, neither scaled nor biased;
- the fused CPU kernel (``block_tail`` of
  :mod:`mmdtf.ops.spectral_modulation_cpu`) does the rest pixel tile by
  pixel tile: the rms of the tile's ``C x T`` values, the filter ``r a +
  r^2 b + bias``, the modulation and the residual, reading ``y`` from cache
  the second time and never storing ``f'``.

The same numbers as the block's other path up to rounding
(tests/models/blocks/test_fused_tail.py checks it against the naive
reference). Only DTF's filter in its default form takes it
(:func:`runs_fused_tail`), in eager mode and under ``torch.compile`` (one
operator, ``mmdtf::block_tail``, so that inductor copies the block's input
once and generates no kernel for the residual); training, tracing (FLOP
counting), ONNX export and autocast run the block's operators as before,
and where the kernel cannot be built the spectral modulation's fallback
says so.
"""
from typing import Optional

import torch

from mmdtf.ops import spectral_modulation_cpu
from mmdtf.ops.frame_aggregation import choose_backend, cpp_kernel
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
    if y.is_contiguous() or n * h * w < out:
        # y in the weight's (C, T) order (in place, or the smaller copy):
        # the weight's columns are read in place
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


def fused_tail(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A DTF block's output ``x + gamma * filter(y, corr) + beta`` (see the
    module's docstring); the operator while compiling."""
    filt = block.filter
    fa_here = (block.corr_alignment == 'next'
               and (block.aggregate or block.use_corr)
               and block.kernel_size in cpp_kernel.KERNEL_SIZES
               and choose_backend('cpu', None, block.backend) == 'cpp')
    y, corr = (None, None) if fa_here else block.filter_inputs(x)
    args = (x, y, corr, filt.estimator.weight, filt.estimator.bias,
            block.gamma, block.beta, filt.estimator_input.norm == 'rms',
            filt.groups, block.kernel_size if fa_here else 0, block.aggregate,
            block.use_corr)
    if torch.compiler.is_compiling():
        return block_tail_op(*args)
    # named as the operator is in compiled graphs, so that profiles show it
    with torch.profiler.record_function('mmdtf::block_tail'):
        return _block_tail(*args)


def _block_tail(x: torch.Tensor, y: Optional[torch.Tensor],
                corr: Optional[torch.Tensor], weight: torch.Tensor,
                bias: Optional[torch.Tensor], gamma: torch.Tensor,
                beta: torch.Tensor, rms: bool, groups: int,
                kernel_size: int, aggregate: bool,
                use_corr: bool) -> torch.Tensor:
    """The block's output from ``x`` and ``y``, ``corr``, or with
    ``kernel_size`` > 0 from FA's fused kernel run here (``y`` the FA
    feature if ``aggregate`` else ``x``, ``corr`` if ``use_corr``)."""
    if kernel_size:
        # y written in (C, T) order for the estimator's product
        y_fa, corr = cpp_kernel.forward(x, kernel_size,
                                        x.new_empty(x.shape))
        y = y_fa if aggregate else x
        corr = corr if use_corr else None
    from_y, from_corr = estimator_products(y, corr, weight)
    work = spectral_modulation_cpu.accumulation_dtype(y.dtype)
    return spectral_modulation_cpu.block_tail(
        y, x, from_y, from_corr, bias, EPS if rms else None, groups,
        gamma.flatten(), beta.flatten(), _dft(y, work))


# No autograd: only called where nothing needs gradients.
block_tail_op = torch.library.custom_op('mmdtf::block_tail',
                                        mutates_args=())(_block_tail)


@block_tail_op.register_fake
def _block_tail_fake(x, y, corr, weight, bias, gamma, beta, rms, groups,
                     kernel_size, aggregate, use_corr):
    return torch.empty_like(x)
