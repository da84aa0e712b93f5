"""FLOP counting for DTF models on top of MMEngine's ``FlopAnalyzer``.

MMEngine's ``FlopAnalyzer`` (fvcore's rules, used by MMAction2's
``get_flops.py``) traces the model with ``torch.jit`` and counts one fused
multiply-add (MAC) as one flop, for linear operators (convolution, matmul,
linear, einsum) and norms; element-wise operators are not counted. Of a DTF
block it sees the filter estimator (a 1x1 convolution), the channel mixing
(a real ``2C x 2C`` matrix product) and its batch norm, and misses:

- ``mmdtf::frame_aggregation``: the FA op, a registered operator (on every
  device and backend);
- ``aten::fft_rfft`` / ``aten::fft_irfft``: the transforms over time;
- the complex multiply ``S * S_c``, written in real arithmetic: the tracer
  sees two ``aten::mul`` and two ``aten::addcmul_`` on real tensors inside
  the spectral filter.

:class:`DTFFlopAnalyzer` adds handles for these, and puts the operators of
the spectral path in their own categories (keys of ``by_operator()``), each
counted in real multiply-adds (``total()``, "all-real") and, for the paper's
convention (:meth:`DTFFlopAnalyzer.total_paper`, "a complex multiply-add
counted once"), divided by ``REAL_MACS_PER_PAPER_MAC``:

- ``frame_aggregation``: ``2 k^2 C (T-1) H W`` per clip: ``k^2 C`` MACs of
  correlation and ``k^2 C`` of aggregation at each pixel of frames
  ``0..T-2`` (softmax and the ``1/C`` scale are element-wise: not counted).
  Real arithmetic: the same in both conventions.
- ``spectral_dft``: ``2 T M`` real MACs per transform of length ``T``
  (``M = T // 2 + 1`` bins), the DFT as a product with the cos/sin
  matrices: what ``spectral_impl='matmul'`` runs, and an upper bound of an
  FFT (about ``5/2 T log2 T`` flops per complex transform) at small ``T``.
  Paper: ``T M`` (a real x complex MAC counted once).
- ``complex_mul``: the filter product ``S * S_c``: 4 real MACs per complex
  product (each component is a multiply and a fused multiply-add). Paper: 1.
- ``spectral_mixing``: the complex ``C x C`` channel mixing, run as a real
  ``2C x 2C`` matrix product: ``4 C^2`` real MACs per bin and location.
  Paper: ``C^2``. In eval mode (how FLOPs are counted) the mixing skips the
  imaginary parts of the DC and Nyquist bins, which the inverse transform
  ignores: ``2 C^2`` real MACs (half a complex MAC) for each of those.

Of a ``TCPHead`` (TCPNet's covariance pooling) MMEngine counts every matrix
product as ``bmm``; :class:`DTFFlopAnalyzer` puts them in their own
categories:

- ``covariance_pool``: ``D^2 M`` per clip, the ``(D, M) x (M, D)`` product of
  the centred features over ``M = T*H*W`` positions (centring and the
  ``1/M`` scale are element-wise: not counted);
- ``isqrt``: ``(3N - 3) D^3`` per clip for ``N >= 2`` Newton-Schulz
  iterations (``D^3`` for ``N = 1``): ``Y P`` in the first, ``Z Y``, ``P Z``
  and ``Y P`` in each middle one, ``Z Y`` and ``Y P`` in the last.

Real arithmetic: the same in both conventions.

Everything else (convolutions, the estimator, norms, linear layers) counts
as MMEngine counts it, the same in both conventions.

TIN (``ResNetTINShift``): ``prim::PythonOp.TINShiftFunction``, the shift of
a channel group by whole frames, is data movement; the linear sampler
multiplies each of its two shifted copies by its interpolation weight and
sums them: counted as ``tin_interlace``, 1 MAC per element of each
``tin_shift`` output (2 per interlaced element). WeightNet's scaling of the
result is element-wise (not counted); OffsetNet's and WeightNet's
convolutions and fully connected layers count as ``conv`` and ``linear``.
"""
import typing
from collections import Counter
from typing import Any, Dict, List, Tuple, Union

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import (Handle, bmm_flop_jit,
                                           conv_flop_jit, get_shape,
                                           matmul_flop_jit)
from mmengine.analysis.print_helper import (_format_size,
                                            complexity_stats_table)
from torch import nn

from mmdtf.models.blocks import (DynamicSpectralFilter, SpectralChannelMixing,
                                 StaticSpectralFilter)
from mmdtf.models.heads.tcp import CovariancePool, NewtonSchulzSqrt

# Real MACs per unit of the paper convention, for the categories that are
# complex arithmetic; any other category counts the same in both.
REAL_MACS_PER_PAPER_MAC = {
    'spectral_dft': 2,
    'complex_mul': 4,
    'spectral_mixing': 4,
}

ZERO_FLOP_OPS = ('aten::real', 'aten::imag', 'aten::complex',
                 'aten::view_as_real', 'aten::view_as_complex')
FA_OP_NAMES = ('mmdtf::frame_aggregation', )
TIN_SHIFT_OP_NAME = 'prim::PythonOp.TINShiftFunction'

COUNTING_RULES = (
    'One multiply-add (MAC) counts as one flop, as in MMEngine/fvcore; '
    'element-wise ops (activations, residual adds, softmax) are not counted.',
    'frame_aggregation: 2 * k^2 * C * (T-1) * H * W real MACs per clip '
    '(k^2*C for the correlation and k^2*C for the aggregation at each pixel '
    'of frames 0..T-2; softmax and the 1/C scale not counted); the same in '
    'both conventions.',
    'spectral_dft: rfft/irfft over T counted as a DFT matrix product, '
    '2*T*M real MACs per transform (M = T//2+1), what '
    "spectral_impl='matmul' runs (an upper bound of the FFT, ~5/2*T*log2(T) "
    'flops per complex transform); paper convention T*M.',
    'complex_mul: the filter product S * S_c, written in real arithmetic: 4 '
    'real MACs per complex product (all-real), 1 (paper).',
    'spectral_mixing: the complex C x C channel mixing, run as a real '
    '2C x 2C matrix product: 4*C^2 real MACs per bin and location '
    '(all-real), C^2 complex MACs counted once (paper); in eval mode the '
    'imaginary parts of the DC and Nyquist bins, which irfft ignores, are '
    'not computed: 2*C^2 real MACs (half a complex MAC) for those bins.',
    'tin_interlace: TIN\'s linear sampler, 1 MAC per element of each of '
    'the two shifted copies it weights and sums (the shift itself moves '
    'data; WeightNet\'s scaling is element-wise, not counted).',
    'covariance_pool (TCPHead): D^2 * T*H*W MACs per clip; isqrt: '
    '(3N-3) * D^3 MACs per clip for N >= 2 Newton-Schulz iterations (D^3 '
    'for N = 1); the same in both conventions.',
)


def _numel(shape: List[int]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _scope(outputs: List[Any]) -> str:
    """The name of the module whose ``forward`` ran the traced node."""
    return outputs[0].node().scopeName().split('/')[-1]


def _transform_dim(node_inputs: List[Any], op: str) -> int:
    """The single dim of an ``aten::fft_*`` node (``rfftn`` over one dim)."""
    dim = node_inputs[2].toIValue()
    if isinstance(dim, (list, tuple)):
        if len(dim) != 1:
            raise NotImplementedError(
                f'{op} over dims {list(dim)}: only transforms over one dim '
                '(the time axis of a DTF block) are counted.')
        dim = dim[0]
    return dim


def rfft_flop_jit(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::fft_rfft(n)``: ``2 T M`` real MACs per transform of length T."""
    in_shape = get_shape(inputs[0])
    out_shape = get_shape(outputs[0])
    dim = _transform_dim(inputs, 'aten::fft_rfft')
    length, bins = in_shape[dim], out_shape[dim]
    transforms = _numel(in_shape) // length
    return Counter({'spectral_dft': transforms * 2 * length * bins})


def irfft_flop_jit(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::fft_irfft(n)``: ``2 T M`` real MACs per transform to T."""
    in_shape = get_shape(inputs[0])
    out_shape = get_shape(outputs[0])
    dim = _transform_dim(inputs, 'aten::fft_irfft')
    bins, length = in_shape[dim], out_shape[dim]
    transforms = _numel(out_shape) // length
    return Counter({'spectral_dft': transforms * 2 * length * bins})


def frame_aggregation_flop_jit(inputs: List[Any],
                               outputs: List[Any]) -> Counter:
    """FA: ``2 k^2 C (T-1) H W`` real MACs per clip.

    The kernel size is the registered operator's second input (a
    constant).
    """
    n, c, t, h, w = get_shape(inputs[0])
    kernel_size = inputs[1].toIValue()
    return Counter({
        'frame_aggregation':
        2 * kernel_size**2 * n * c * max(t - 1, 0) * h * w
    })


def tin_shift_flop_jit(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``tin_shift``: 1 MAC per output element, for the interpolation weight
    TIN's linear sampler applies to the shifted copy."""
    return Counter({'tin_interlace': _numel(get_shape(outputs[0]))})


def _spectral_handles(filter_scopes: typing.Set[str],
                      mixing_scopes: typing.Set[str]) -> Dict[str, Handle]:
    """Handles that tell the spectral path's generic operators apart by the
    module that runs them."""

    def conv(inputs: List[Any], outputs: List[Any]) -> Counter:
        counts = conv_flop_jit(inputs, outputs)
        if _scope(outputs) in mixing_scopes:
            return Counter({'spectral_mixing': counts['conv']})
        return counts

    def mul(inputs: List[Any], outputs: List[Any]) -> Counter:
        # In a spectral filter's own forward the only multiplies (mul and
        # addcmul_) are the four real ones of the complex product; elsewhere
        # element-wise ops are not counted (MMEngine's convention).
        shape = get_shape(outputs[0])
        if shape and _scope(outputs) in filter_scopes:  # not size arithmetic
            return Counter({'complex_mul': _numel(shape)})
        return Counter()

    def matmul(inputs: List[Any], outputs: List[Any]) -> Counter:
        if _scope(outputs) in mixing_scopes:
            # the (2C, 2C) real mixing matrix times the (N, 2C, M*H*W)
            # spectrum: 2C MACs per output element (in eval mode (C, C)
            # blocks of it times (N, C, .) parts: C MACs per element)
            macs = _numel(get_shape(outputs[0])) * get_shape(inputs[0])[-1]
            return Counter({'spectral_mixing': macs})
        if _scope(outputs) in filter_scopes:
            # spectral_impl='matmul': a (K, L) DFT matrix times the
            # (N, C, L, H*W) feature: K * L MACs per (n, c, h, w); MMEngine's
            # handle expects the batch dims on the left operand.
            macs = _numel(get_shape(outputs[0])) * get_shape(inputs[0])[-1]
            return Counter({'spectral_dft': macs})
        return Counter({'matmul': matmul_flop_jit(inputs, outputs)})

    def addcmul(inputs: List[Any], outputs: List[Any]) -> Counter:
        # In eval mode the mixing applies its batch norm as the affine map
        # it is; counted as MMEngine counts an eval batch norm.
        if _scope(outputs) in mixing_scopes:
            return Counter({'batch_norm': _numel(get_shape(outputs[0]))})
        return Counter()

    return {'aten::_convolution': conv, 'aten::mul': mul,
            'aten::addcmul_': mul, 'aten::addcmul': addcmul,
            'aten::matmul': matmul}


def _bmm_handle(categories: Dict[str, str]) -> Handle:
    """``aten::bmm`` in the category of the module that runs it (by
    scope), MMEngine's ``bmm`` elsewhere."""

    def bmm(inputs: List[Any], outputs: List[Any]) -> Counter:
        category = categories.get(_scope(outputs), 'bmm')
        return Counter({category: bmm_flop_jit(inputs, outputs)})

    return bmm


class DTFFlopAnalyzer(FlopAnalyzer):
    """``FlopAnalyzer`` that also counts FA, the FFTs over time and the
    complex arithmetic of DTF blocks (see the module docstring for the rules).

    Args:
        model: the model to analyse (its ``forward`` is traced).
        inputs: the inputs of ``model.forward``.
    """

    def __init__(self, model: nn.Module,
                 inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]):
        super().__init__(model, inputs)
        # Views and copies between real and complex tensors: no arithmetic.
        self._ignored_ops.update(ZERO_FLOP_OPS)
        filter_scopes, mixing_scopes = set(), set()
        bmm_categories = {}
        for module in model.modules():
            if isinstance(module, CovariancePool):
                bmm_categories[self._aliases[module]] = 'covariance_pool'
            elif isinstance(module, NewtonSchulzSqrt):
                bmm_categories[self._aliases[module]] = 'isqrt'
            if isinstance(module, (DynamicSpectralFilter,
                                   StaticSpectralFilter)):
                filter_scopes.add(self._aliases[module])
            elif isinstance(module, SpectralChannelMixing):
                mixing_scopes.add(self._aliases[module])
        self.set_op_handle(
            **{name: frame_aggregation_flop_jit for name in FA_OP_NAMES})
        self.set_op_handle(**{TIN_SHIFT_OP_NAME: tin_shift_flop_jit})
        self.set_op_handle(**{
            'aten::fft_rfft': rfft_flop_jit,
            'aten::fft_rfftn': rfft_flop_jit,
            'aten::fft_irfft': irfft_flop_jit,
            'aten::fft_irfftn': irfft_flop_jit,
        })
        self.set_op_handle(**_spectral_handles(filter_scopes, mixing_scopes))
        self.set_op_handle(**{'aten::bmm': _bmm_handle(bmm_categories)})

    def total_paper(self, module_name: str = '') -> float:
        """The total with complex arithmetic counted once per complex MAC
        (the DTF paper's convention)."""
        by_operator = self.by_operator(module_name)
        total = 0.
        for op, count in by_operator.items():
            total += count / REAL_MACS_PER_PAPER_MAC.get(op, 1)
        return total


def get_dtf_complexity_info(
        model: nn.Module,
        input_shape: Tuple[int, ...],
        show_table: bool = True,
        max_depth: int = 3) -> Dict[str, Any]:
    """Like MMEngine's ``get_model_complexity_info`` (a random input of shape
    ``(1, *input_shape)``), with :class:`DTFFlopAnalyzer`.

    Returns:
        dict: ``flops`` (all-real MACs), ``flops_paper`` (complex MACs
        counted once), ``by_operator`` (a Counter of all-real MACs),
        ``unsupported_ops``, ``params``, their ``*_str`` forms and
        ``out_table`` (MMEngine's per-module table of all-real counts).
    """
    device = next(model.parameters()).device
    inputs = (torch.randn(1, *input_shape, device=device), )
    analyzer = DTFFlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    flops = analyzer.total()
    flops_paper = analyzer.total_paper()
    params = parameter_count(model)['']
    table = ''
    if show_table:
        table = '\n' + complexity_stats_table(
            flops=analyzer, max_depth=max_depth, show_param_shapes=False)
    return {
        'flops': flops,
        'flops_str': _format_size(flops),
        'flops_paper': flops_paper,
        'flops_paper_str': _format_size(int(flops_paper)),
        'by_operator': analyzer.by_operator(),
        'unsupported_ops': analyzer.unsupported_ops(),
        'params': params,
        'params_str': _format_size(params),
        'out_table': table,
    }


__all__ = ['DTFFlopAnalyzer', 'get_dtf_complexity_info', 'COUNTING_RULES',
           'REAL_MACS_PER_PAPER_MAC', 'rfft_flop_jit', 'irfft_flop_jit',
           'frame_aggregation_flop_jit', 'tin_shift_flop_jit']
