"""``mmdtf::spectral_modulation``, the DTF filter's spectral product as one
registered operator: its schema, fake and autograd registration (opcheck),
its gradient against finite differences (gradcheck) and against autograd
through the PyTorch path, and both against a per-location DFT by hand
(numpy's FFT). Its CPU kernels (the fused C++ kernel) have their own tests
in tests/ops/test_spectral_modulation_cpu.py; here the PyTorch path, which
other devices run, is tested on its own too."""
import numpy as np
import pytest
import torch

from mmdtf.models.blocks.spectral_modulation import (
    _backward_in_pytorch, _modulated, spectral_modulation,
    spectral_modulation_backward_op, spectral_modulation_op)

N, C, T, H, W, GROUPS = 2, 6, 5, 3, 4, 3


def inputs(dtype=torch.float64, layout='frames', seed=0, grad=False):
    """``y`` as ResNetDTF passes it (a (N, C, T, H, W) view of (N, T, C, H,
    W) memory) or contiguous, and the filter as the estimator gives it:
    views of one (N, 2 * C/G * M, H, W) output."""
    gen = torch.Generator().manual_seed(seed)
    bins = T // 2 + 1
    if layout == 'frames':
        y = torch.randn(N, T, C, H, W, generator=gen).transpose(1, 2)
    else:
        y = torch.randn(N, C, T, H, W, generator=gen)
    estimated = torch.randn(N, 2 * GROUPS * bins, H, W, generator=gen)
    y, estimated = y.to(dtype), estimated.to(dtype)
    if grad:
        y.requires_grad_(True)
        estimated.requires_grad_(True)
    filt = estimated.view(N, 2, GROUPS, 1, bins, H, W)
    return y, filt[:, 0], filt[:, 1]


def by_hand(y, filt_real, filt_imag):
    """Each location and channel on its own: numpy's orthonormal rfft over
    time, times its group's complex filter, irfft back."""
    y = y.detach().double().numpy()
    filt = (filt_real.detach().double().numpy() +
            1j * filt_imag.detach().double().numpy())
    out = np.empty_like(y)
    shared_by = C // GROUPS
    for n, c, h, w in np.ndindex(N, C, H, W):
        spec = np.fft.rfft(y[n, c, :, h, w], norm='ortho')
        spec = spec * filt[n, c // shared_by, 0, :, h, w]
        out[n, c, :, h, w] = np.fft.irfft(spec, n=T, norm='ortho')
    return torch.from_numpy(out)


@pytest.mark.parametrize('spectral_impl', ['matmul', 'fft'])
def test_eager_path_matches_dft_by_hand(spectral_impl):
    """What the filter calls (the operator for 'matmul' on CPU) and the
    PyTorch path of each transform."""
    y, fr, fi = inputs()
    torch.testing.assert_close(spectral_modulation(y, fr, fi, spectral_impl),
                               by_hand(y, fr, fi), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_modulated(y, fr, fi, spectral_impl),
                               by_hand(y, fr, fi), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('layout', ['frames', 'contiguous'])
def test_operator_matches_dft_by_hand_and_eager_gradients(layout):
    y, fr, fi = inputs(layout=layout, grad=True)
    out = spectral_modulation_op(y, fr, fi)
    torch.testing.assert_close(out, by_hand(y, fr, fi), rtol=1e-12,
                               atol=1e-12)
    weight = torch.randn(out.shape, dtype=out.dtype,
                         generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad((out * weight).sum(), (y, fr, fi))
    eager = _modulated(y, fr, fi, 'matmul')
    grads_eager = torch.autograd.grad((eager * weight).sum(), (y, fr, fi))
    for grad, grad_eager in zip(grads, grads_eager):
        torch.testing.assert_close(grad, grad_eager, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('layout', ['frames', 'contiguous'])
def test_pytorch_backward_matches_autograd(layout):
    """The hand-written backward other devices run (and CPUs without the
    fused kernel): autograd through the PyTorch path's forward."""
    y, fr, fi = inputs(layout=layout, grad=True)
    eager = _modulated(y, fr, fi, 'matmul')
    grad = torch.randn(eager.shape, dtype=eager.dtype,
                       generator=torch.Generator().manual_seed(1))
    expected = torch.autograd.grad(eager, (y, fr, fi), grad)
    got = _backward_in_pytorch(grad, y.detach(), fr.detach(), fi.detach())
    for g, g_ref in zip(got, expected):
        torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)


def test_operator_gradcheck():
    y, fr, fi = (t.detach().clone().requires_grad_(True)
                 for t in inputs(layout='contiguous'))
    assert torch.autograd.gradcheck(spectral_modulation_op, (y, fr, fi))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('layout', ['frames', 'contiguous'])
def test_opcheck(dtype, layout):
    """Schema, fake implementation (shapes and strides of the real
    outputs, forward and backward), autograd registration."""
    y, fr, fi = inputs(dtype, layout, grad=True)
    torch.library.opcheck(spectral_modulation_op, (y, fr, fi))
    # the gradient as autograd hands it over: in the output's layout
    grad = torch.randn(N, T, C, H, W, dtype=dtype).transpose(1, 2)
    torch.library.opcheck(spectral_modulation_backward_op,
                          (grad, y.detach(), fr.detach(), fi.detach()))


def test_half_inputs_computed_in_float32():
    """bfloat16 features: the spectrum and the gradients in float32, as the
    PyTorch path (and torch.fft) compute them; results in the inputs'
    dtypes, within a bfloat16 rounding of the PyTorch path's."""
    y, fr, fi = inputs(torch.bfloat16, grad=True)
    out = spectral_modulation_op(y, fr, fi)
    assert out.dtype == torch.bfloat16
    eager = _modulated(y, fr, fi, 'matmul')
    torch.testing.assert_close(out, eager, rtol=8e-3, atol=8e-3)
    grads = torch.autograd.grad(out.float().sum(), (y, fr, fi))
    grads_eager = torch.autograd.grad(eager.float().sum(), (y, fr, fi))
    for grad, grad_eager in zip(grads, grads_eager):
        assert grad.dtype == torch.bfloat16
        # float32 sums in another order, then rounded to bfloat16
        torch.testing.assert_close(grad, grad_eager, rtol=8e-3, atol=8e-3)


def test_one_operator_node_when_compiled():
    y, fr, fi = inputs(grad=True)

    def fn(y, fr, fi):
        return spectral_modulation(y, fr, fi, 'matmul') * 2

    explained = torch._dynamo.explain(fn)(y, fr, fi)
    assert explained.graph_break_count == 0
    targets = [str(node.target) for graph in explained.graphs
               for node in graph.graph.nodes]
    assert targets.count('mmdtf.spectral_modulation.default') == 1
    assert not any('matmul' in t or 'bmm' in t for t in targets)
