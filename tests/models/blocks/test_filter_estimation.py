"""``mmdtf::filter_estimate``, the filter estimator (the 1x1 convolution of
``z = concat(y, corr)`` with the rms scaling) as one registered operator
under torch.compile: the eager path and the operator against the estimator
applied location by location by hand (numpy), the operator's gradient
against finite differences (gradcheck) and against autograd through the
eager path, its schema, fake and autograd registration (opcheck)."""
import numpy as np
import pytest
import torch

from mmdtf.models.blocks.filter_estimation import (
    EPS, estimate_filter, filter_estimate_backward_op, filter_estimate_op)

# tests/estimator_cases.py (tests/ is on sys.path: conftest.py)
from estimator_cases import (ESTIMATOR_LAYOUTS, H, N, OPTION_IDS, OPTIONS,
                             W, estimator_inputs, gradcheck_given)

OUT = 10
LAYOUTS = ESTIMATOR_LAYOUTS


def inputs(*args, **kwargs):
    return estimator_inputs(OUT, *args, **kwargs)


def by_hand(y, corr, weight, bias, rms):
    """Each location on its own: z, the y values in (C, T) order then the
    correlations in (k*k, T) order, each scaled by the rms of y (its square
    for corr), times the weight matrix, plus the bias."""
    y = y.detach().double().numpy()
    weight = weight.detach().double().numpy()[:, :, 0, 0]
    out = np.empty((N, OUT, H, W))
    for n, h, w in np.ndindex(N, H, W):
        y_loc = y[n, :, :, h, w].reshape(-1)
        scale = 1 / np.sqrt(np.mean(y_loc**2) + EPS) if rms else 1.0
        z = [y_loc * scale]
        if corr is not None:
            z.append(corr.detach().double().numpy()[n, :, :, h, w].reshape(-1)
                     * scale**2)
        out[n, :, h, w] = weight @ np.concatenate(z)
        if bias is not None:
            out[n, :, h, w] += bias.detach().double().numpy()
    return torch.from_numpy(out)


@pytest.mark.parametrize('layout', list(LAYOUTS))
@pytest.mark.parametrize('options', OPTIONS, ids=OPTION_IDS)
def test_eager_path_and_operator_match_by_hand(options, layout):
    args = inputs(*options, layout=layout)
    expected = by_hand(*args)
    torch.testing.assert_close(estimate_filter(*args), expected, rtol=1e-12,
                               atol=1e-12)
    torch.testing.assert_close(filter_estimate_op(*args), expected,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('layout', ['frames', 'channels_last'])
@pytest.mark.parametrize('options', OPTIONS, ids=OPTION_IDS)
def test_operator_gradients_match_eager_autograd(options, layout):
    args = inputs(*options, layout=layout, grad=True)
    tensors = [t for t in args[:4] if t is not None]
    out = filter_estimate_op(*args)
    weight = torch.randn(out.shape, dtype=out.dtype,
                         generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad((out * weight).sum(), tensors)
    eager = estimate_filter(*args)
    grads_eager = torch.autograd.grad((eager * weight).sum(), tensors)
    for grad, grad_eager in zip(grads, grads_eager):
        torch.testing.assert_close(grad, grad_eager, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('options', OPTIONS[:2] + OPTIONS[4:6],
                         ids=OPTION_IDS[:2] + OPTION_IDS[4:6])
def test_operator_gradcheck(options):
    """Finite differences: every input that is given."""
    assert gradcheck_given(filter_estimate_op, inputs(*options, grad=True))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('layout', ['frames', 'channels_last'])
@pytest.mark.parametrize('options', [OPTIONS[0], OPTIONS[-1]],
                         ids=[OPTION_IDS[0], OPTION_IDS[-1]])
def test_opcheck(options, layout, dtype):
    """Schema, fake implementation (shapes and strides of the real outputs,
    forward and backward), autograd registration."""
    args = inputs(*options, layout=layout, dtype=dtype, grad=True)
    torch.library.opcheck(filter_estimate_op, args)
    detached = [t if t is None else t.detach() for t in args[:4]]
    out = filter_estimate_op(*detached, args[4])
    torch.library.opcheck(filter_estimate_backward_op,
                          (torch.randn_like(out), out, *detached, args[4]))


def test_half_inputs_as_eager():
    """bfloat16 features and weights: the operator runs the eager path's
    computation (equal results); its gradients, computed by hand in
    bfloat16 with the scale in float32, are close to autograd's."""
    y, corr, weight, bias, rms = inputs(dtype=torch.bfloat16, grad=True)
    corr = corr.detach().float().requires_grad_(True)  # as FA returns it
    args = (y, corr, weight, bias, rms)
    out, eager = filter_estimate_op(*args), estimate_filter(*args)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, eager, rtol=0, atol=0)
    tensors = (y, corr, weight, bias)
    grads = torch.autograd.grad(out.float().sum(), tensors)
    grads_eager = torch.autograd.grad(eager.float().sum(), tensors)
    for grad, grad_eager, t in zip(grads, grads_eager, tensors):
        assert grad.dtype == t.dtype
        scale = grad_eager.float().abs().max().item()
        # bfloat16 products summed in another order
        torch.testing.assert_close(grad.float(), grad_eager.float(),
                                   rtol=2e-2, atol=2e-2 * scale)


def test_one_operator_node_when_compiled_not_under_autocast():
    args = inputs(grad=True)

    def fn(y, corr, weight, bias):
        return estimate_filter(y, corr, weight, bias, True) * 2

    explained = torch._dynamo.explain(fn)(*args[:4])
    assert explained.graph_break_count == 0
    targets = [str(node.target) for graph in explained.graphs
               for node in graph.graph.nodes]
    assert targets.count('mmdtf.filter_estimate.default') == 1
    assert not any('conv' in t for t in targets)
    # under autocast the composite is traced: its convolutions autocast
    torch._dynamo.reset()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        explained = torch._dynamo.explain(fn)(*args[:4])
    targets = [str(node.target) for graph in explained.graphs
               for node in graph.graph.nodes]
    assert 'mmdtf.filter_estimate.default' not in targets
    assert any('conv2d' in t for t in targets)
