"""``mmdtf::estimate_and_modulate``, DTF's filter estimate and spectral
modulation as one operator under torch.compile: its output and filter
against the two eager paths composed (each checked against its own by-hand
reference in test_filter_estimation.py and test_spectral_modulation.py),
its gradients against autograd through them and against finite differences
(gradcheck), its schema, fake and autograd registration (opcheck), and the
block choosing it only while compiling."""
import pytest
import torch

from mmdtf.models.blocks import DynamicSpectralFilter
from mmdtf.models.blocks.estimate_and_modulate import (
    estimate_and_modulate_backward_op, estimate_and_modulate_op,
    filter_parts)
from mmdtf.models.blocks.filter_estimation import estimate_filter
from mmdtf.models.blocks.spectral_modulation import _modulated

# tests/estimator_cases.py (tests/ is on sys.path: conftest.py)
from estimator_cases import (C, K2, OPTION_IDS, OPTIONS, T, estimator_inputs,
                             gradcheck_given)

GROUPS = 3  # filters, each shared by C / GROUPS = 2 channels
OUT = 2 * GROUPS * (T // 2 + 1)  # (part, group, frequency bin)
LAYOUTS = ('frames', 'channels_last')


def inputs(*args, **kwargs):
    return (*estimator_inputs(OUT, *args, **kwargs), GROUPS)


def composed(y, corr, weight, bias, rms, groups):
    """The eager block's two steps: the estimate, then the modulation (its
    PyTorch path)."""
    filt = estimate_filter(y, corr, weight, bias, rms)
    return _modulated(y, *filter_parts(filt, groups), 'matmul'), filt


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('options', OPTIONS, ids=OPTION_IDS)
def test_outputs_match_the_eager_steps(options, layout):
    args = inputs(*options, layout=layout)
    out, filt = estimate_and_modulate_op(*args)
    out_ref, filt_ref = composed(*args)
    torch.testing.assert_close(filt, filt_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('used', ['both', 'out', 'filt'])
@pytest.mark.parametrize('options', OPTIONS, ids=OPTION_IDS)
def test_gradients_match_autograd_through_the_eager_steps(options, used):
    args = inputs(*options, grad=True)
    tensors = [t for t in args[:4] if t is not None]
    gen = torch.Generator().manual_seed(1)

    def loss(outputs):
        out, filt = outputs
        weights = (torch.randn(out.shape, dtype=out.dtype, generator=gen),
                   torch.randn(filt.shape, dtype=filt.dtype, generator=gen))
        terms = [(o * w).sum() for o, w, name in zip(
            outputs, weights, ('out', 'filt')) if used in (name, 'both')]
        return sum(terms)

    grads = torch.autograd.grad(loss(estimate_and_modulate_op(*args)),
                                tensors)
    gen.manual_seed(1)
    grads_ref = torch.autograd.grad(loss(composed(*args)), tensors)
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-10)


def test_gradcheck():
    """Finite differences, every input given (the gradients of each option
    against autograd are above)."""
    assert gradcheck_given(estimate_and_modulate_op, inputs(grad=True))


@pytest.mark.parametrize('layout, dtype', [('frames', torch.float64),
                                           ('channels_last', torch.float32)])
def test_opcheck(layout, dtype):
    """Schema, fake implementation (shapes and strides of the real outputs,
    forward and backward), autograd registration."""
    args = inputs(layout=layout, dtype=dtype, grad=True)
    torch.library.opcheck(estimate_and_modulate_op, args)
    detached = [t.detach() for t in args[:4]]
    out, filt = estimate_and_modulate_op(*detached, *args[4:])
    for grad, grad_filt in ((torch.randn_like(out), torch.randn_like(filt)),
                            (torch.randn_like(out), None),
                            (None, torch.randn_like(filt))):
        torch.library.opcheck(estimate_and_modulate_backward_op,
                              (grad, grad_filt, filt, *detached, *args[4:]))


def test_the_filter_chooses_it_only_while_compiling():
    torch.manual_seed(0)
    module = DynamicSpectralFilter(C, T, C // GROUPS, K2, False).double()
    y, corr = inputs()[:2]

    def targets(fn):
        torch._dynamo.reset()
        explained = torch._dynamo.explain(fn)(y, corr)
        assert explained.graph_break_count == 0
        return [str(node.target) for graph in explained.graphs
                for node in graph.graph.nodes]

    compiled = targets(module)
    assert compiled.count('mmdtf.estimate_and_modulate.default') == 1
    assert not any(t.startswith(('mmdtf.filter_estimate',
                                 'mmdtf.spectral_modulation'))
                   for t in compiled)
    # eagerly the two steps, the same numbers
    torch.testing.assert_close(module(y, corr),
                               torch.compile(module, backend='aot_eager')(
                                   y, corr), rtol=1e-12, atol=1e-12)
    # under autocast the estimate is traced (its convolutions autocast)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        autocast = targets(module)
    assert 'mmdtf.estimate_and_modulate.default' not in autocast
    # and with channel mixing the modulated spectrum is traced
    mixing = DynamicSpectralFilter(C, T, C // GROUPS, K2, True).double()
    assert 'mmdtf.estimate_and_modulate.default' not in targets(mixing)
