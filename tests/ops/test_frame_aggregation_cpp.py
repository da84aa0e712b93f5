"""FA's fused C++ CPU kernel (backend 'cpp', what 'auto' runs on CPU):
values and gradients against the naive reference in float64 for every
layout the backbones pass, kernel sizes 1-7, T = 1, one output unused;
gradcheck; float32 and bfloat16 within bounds derived from their rounding;
threads; the registered operator (opcheck, torch.compile); the build key
and the error where no compiler exists."""
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from mmdtf.ops import cpu_extension, frame_aggregation
from mmdtf.ops.frame_aggregation import (choose_backend,
                                         frame_aggregation_backward_op,
                                         frame_aggregation_op)
from mmdtf.ops.frame_aggregation import cpp_kernel
from mmdtf.testing import naive_frame_aggregation

# memory order of each layout, as dims of (N, C, T, H, W)
LAYOUTS = {'standard': (0, 1, 2, 3, 4),
           'frames': (0, 2, 1, 3, 4),  # ResNetDTF's (N, T, C, H, W)
           'channels_last': (0, 2, 3, 4, 1),  # SwinDTF's tokens
           'other': (0, 3, 4, 2, 1)}  # (N, H, W, T, C)


def stored_as(x, layout):
    """``x`` (N, C, T, H, W) with the same values stored in ``layout``."""
    order = LAYOUTS[layout]
    inverse = sorted(range(5), key=order.__getitem__)
    return x.permute(*order).contiguous().permute(*inverse)


def fused(x, kernel_size):
    return frame_aggregation(x, kernel_size, backend='cpp')


def reference_grad(x, kernel_size, grad_y, grad_corr):
    """d/dx of <y, grad_y> + <corr, grad_corr> through the naive reference
    (a None weight leaves that output out)."""
    x = x.detach().double().requires_grad_()
    y, corr = naive_frame_aggregation(x, kernel_size)
    loss = sum((out * weight.double()).sum()
               for out, weight in ((y, grad_y), (corr, grad_corr))
               if weight is not None)
    if not loss.requires_grad:  # T = 1: corr does not depend on x
        return torch.zeros_like(x)
    return torch.autograd.grad(loss, x)[0]


@pytest.fixture(scope='module', autouse=True)
def built():
    reason = cpp_kernel.unavailable_reason()
    assert reason is None, f'the fused CPU kernel must build here: {reason}'


@pytest.mark.parametrize('kernel_size', [1, 3, 5, 7])
@pytest.mark.parametrize('layout', list(LAYOUTS))
@pytest.mark.parametrize('shape', [(2, 5, 4, 6, 7), (1, 3, 1, 5, 4),
                                   (1, 17, 3, 9, 20)],
                         ids=['T4', 'T1', 'wide'])
def test_float64_matches_reference(shape, layout, kernel_size):
    """Values and input gradients as the naive reference, in every layout
    (odd sizes, a row longer than a vector's lanes, C not a power of two),
    also with one output unused (its gradient None inside); the output
    keeps the layout of the input where the PyTorch path does."""
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    xs = stored_as(x, layout).requires_grad_()
    y, corr = fused(xs, kernel_size)
    y_ref, corr_ref = naive_frame_aggregation(x, kernel_size)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    if layout != 'other' and shape[2] > 1:  # T = 1: strides ambiguous
        assert y.stride() == xs.stride()
    grad_y, grad_corr = torch.randn_like(y), torch.randn_like(corr)
    for gy, gc in ((grad_y, grad_corr), (None, grad_corr), (grad_y, None)):
        outputs = [out for out, g in ((y, gy), (corr, gc)) if g is not None]
        weights = [g for g in (gy, gc) if g is not None]
        (grad, ) = torch.autograd.grad(outputs, xs, weights,
                                       retain_graph=True)
        torch.testing.assert_close(grad, reference_grad(x, kernel_size, gy,
                                                        gc),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('layout', ['standard', 'frames', 'channels_last'])
@pytest.mark.parametrize('kernel_size', [1, 3])
def test_gradcheck(layout, kernel_size):
    torch.manual_seed(1)
    x = stored_as(torch.randn(2, 3, 3, 5, 4, dtype=torch.float64), layout)
    assert torch.autograd.gradcheck(lambda i: fused(i, kernel_size),
                                    (x.requires_grad_(), ))


def test_float32_within_its_rounding():
    """float32 against the float64 reference of the same input. Each
    correlation sums C products: its error is at most about (C + 2) unit
    roundoffs of the sum of their magnitudes (the reference run on |x|).
    y and the gradient sum at most 3 k*k terms after such sums: bounded by
    (2C + 4 k*k) roundoffs of the largest magnitude involved."""
    torch.manual_seed(2)
    c, k = 64, 3
    u = 2.0**-24
    x = stored_as(torch.randn(2, c, 4, 9, 11), 'frames')
    x64 = x.double()
    y_ref, corr_ref = naive_frame_aggregation(x64, k)
    _, corr_abs = naive_frame_aggregation(x64.abs(), k)
    y, corr = fused(x.requires_grad_(), k)
    assert y.dtype == corr.dtype == torch.float32
    assert ((corr.double() - corr_ref).abs()
            <= (c + 2) * u * corr_abs + 1e-30).all()
    bound = (2 * c + 4 * k * k) * u
    assert (y.double() - y_ref).abs().max() <= bound * y_ref.abs().max()
    gy, gc = torch.randn_like(y), torch.randn_like(corr)
    (g, ) = torch.autograd.grad((y, corr), x, (gy, gc))
    g_ref = reference_grad(x64, k, gy, gc)
    assert (g.double() - g_ref).abs().max() <= bound * g_ref.abs().max()


#: unit roundoff (half an ulp at 1)
UNIT_ROUNDOFF = {torch.bfloat16: 2.**-8, torch.float16: 2.**-11}


@pytest.mark.parametrize('layout', ['frames', 'channels_last', 'standard'])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bfloat16', 'float16'])
def test_half_precision_accumulates_in_float32(dtype, layout):
    """The half-precision input is read once into float32: each output is
    one rounding of a float32 result (<= 1 roundoff of its value plus
    float32 noise: bound 1.5), the gradient within 2 roundoffs of its
    largest value; corr stays float32 inside (the backward's softmax)."""
    torch.manual_seed(3)
    x = stored_as(torch.randn(2, 64, 3, 5, 9).to(dtype), layout)
    y_ref, corr_ref = naive_frame_aggregation(x.double(), 3)
    gy = torch.randn(x.shape).to(dtype)
    gc = torch.randn(corr_ref.shape).to(dtype)
    g_ref = reference_grad(x, 3, gy, gc)
    x = x.detach().requires_grad_()
    y, corr = fused(x, 3)
    (g, ) = torch.autograd.grad((y, corr), x, (gy, gc))
    assert y.dtype == corr.dtype == g.dtype == dtype
    assert frame_aggregation_op(x.detach(), 3, 'cpp')[1].dtype == \
        torch.float32
    u = UNIT_ROUNDOFF[dtype]
    for got, ref in ((y, y_ref), (corr, corr_ref)):
        scale = ref.abs() + 1e-6 * ref.abs().max()
        assert ((got.double() - ref).abs() / (u * scale)).max() <= 1.5
    assert (g.double() - g_ref).abs().max() <= 2 * u * g_ref.abs().max()


def test_same_result_with_any_number_of_threads():
    """Work is split by rows, each pixel's sums run in one order: the
    results are bitwise the same whatever torch.set_num_threads says."""
    torch.manual_seed(4)
    x = stored_as(torch.randn(2, 24, 4, 13, 10), 'frames')
    x.requires_grad_()
    gy, gc = torch.randn(x.shape), torch.randn(2, 9, 4, 13, 10)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            y, corr = fused(x, 3)
            results.append((y, corr) + torch.autograd.grad((y, corr), x,
                                                           (gy, gc)))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_unbuilt_kernel_size_runs_the_pytorch_path_and_says_so():
    torch.manual_seed(5)
    x = torch.randn(1, 3, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    cpp_kernel._warned_sizes.discard(9)
    with pytest.warns(RuntimeWarning, match='built for kernel_size.*not 9'):
        y, corr = fused(x, 9)
    y_ref, corr_ref = naive_frame_aggregation(x, 9)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    (g, ) = torch.autograd.grad(y.sum() + corr.sum(), x)
    torch.testing.assert_close(
        g, reference_grad(x, 9, torch.ones_like(y), torch.ones_like(corr)))


@pytest.mark.parametrize('layout', ['frames', 'channels_last', 'other'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.bfloat16])
def test_opcheck(layout, dtype):
    """The C++ kernel as the CPU kernel of the registered operator: schema,
    fake outputs (shared with the PyTorch kernel), autograd, dispatch."""
    torch.manual_seed(6)
    x = stored_as(torch.randn(2, 6, 4, 5, 3, dtype=dtype), layout)
    torch.library.opcheck(frame_aggregation_op,
                          (x.requires_grad_(), 3, 'cpp'))
    y, corr = frame_aggregation_op(x.detach(), 3, 'cpp')
    grad_y, grad_corr = torch.randn_like(y), torch.randn_like(corr)
    for gy, gc in ((grad_y, grad_corr), (None, grad_corr), (grad_y, None)):
        torch.library.opcheck(frame_aggregation_backward_op,
                              (gy, gc, x.detach(), corr, 3, 'cpp'))


def test_auto_picks_it_on_cpu_and_compiles_as_one_node():
    assert choose_backend('cpu', None, 'auto') == 'cpp'
    assert choose_backend('cpu', None, 'torch') == 'torch'
    x = stored_as(torch.randn(2, 6, 4, 5, 3, dtype=torch.float64), 'frames')
    x.requires_grad_()

    def fn(x):
        y, corr = frame_aggregation(x, 3)
        return (y * y).sum() + (corr * corr.tanh()).sum()

    explained = torch._dynamo.explain(fn)(x)
    assert explained.graph_break_count == 0
    nodes = [node for graph in explained.graphs for node in graph.graph.nodes
             if str(node.target) == 'mmdtf.frame_aggregation.default']
    assert [node.args[2] for node in nodes] == ['cpp']
    torch._dynamo.reset()
    loss = torch.compile(fn, backend='aot_eager', fullgraph=True)(x)
    (grad, ) = torch.autograd.grad(loss, x)
    y_ref, corr_ref = naive_frame_aggregation(x, 3)
    loss_ref = (y_ref * y_ref).sum() + (corr_ref * corr_ref.tanh()).sum()
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, torch.autograd.grad(loss_ref, x)[0],
                               rtol=1e-10, atol=1e-10)


def test_cpp_backend_on_another_device_is_an_error():
    with pytest.raises(RuntimeError, match="backend='cpp'.*needs a CPU "
                       'tensor.*dtf_cfg.backend'):
        choose_backend('cuda', 0, 'cpp')


def test_build_key():
    """The build's name changes with the source (a mutated source is
    rebuilt), the flags and the instruction set; no -march=native."""
    isa, flags = cpu_extension.target_isa()
    base = cpu_extension.build_name('mmdtf_fa_cpu', b'source', isa, flags)
    assert cpu_extension.build_name('mmdtf_fa_cpu', b'source', isa,
                                    flags) == base
    assert cpu_extension.build_name('mmdtf_fa_cpu', b'source!', isa,
                                    flags) != base
    assert cpu_extension.build_name('mmdtf_fa_cpu', b'source', isa,
                                    flags + ['-g']) != base
    assert cpu_extension.build_name('mmdtf_fa_cpu', b'source', 'baseline',
                                    []) != cpu_extension.build_name(
        'mmdtf_fa_cpu', b'source', 'avx2', ['-mavx2', '-mfma'])
    assert not any('native' in flag for flag in flags)
    assert base.startswith(f'mmdtf_fa_cpu_{isa}_')


def _run(code, **env):
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
        text=True, timeout=600, env=dict(os.environ, **env))


def test_default_capability_builds_for_the_baseline():
    """ATEN_CPU_CAPABILITY=default (ATen's own lowest kernels) lowers the
    build's instruction set too."""
    out = _run('''
        from mmdtf.ops import cpu_extension
        print(cpu_extension.target_isa())''', ATEN_CPU_CAPABILITY='default')
    assert out.returncode == 0, out.stderr
    assert "('baseline', [])" in out.stdout


@pytest.mark.slow
def test_without_a_compiler(tmp_path):
    """No compiler (CXX names a missing one, nothing cached): 'auto' warns
    once naming the reason and runs the PyTorch path with the reference's
    values; 'cpp' raises naming the reason and the config key."""
    out = _run('''
        import warnings, torch
        from mmdtf.ops import frame_aggregation
        from mmdtf.testing import naive_frame_aggregation
        x = torch.randn(1, 4, 3, 5, 5, dtype=torch.float64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            y, corr = frame_aggregation(x, 3)
            frame_aggregation(x, 3)
        messages = [str(w.message) for w in caught
                    if 'fused C++ kernel' in str(w.message)]
        print('WARNINGS', len(messages), messages[0])
        y_ref, corr_ref = naive_frame_aggregation(x, 3)
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(corr, corr_ref)
        try:
            frame_aggregation(x, 3, backend='cpp')
        except RuntimeError as e:
            print('ERROR', e)
        ''', CXX=str(tmp_path / 'no-such-compiler'),
        TORCH_EXTENSIONS_DIR=str(tmp_path / 'extensions'))
    assert out.returncode == 0, out.stderr
    assert 'WARNINGS 1 ' in out.stdout
    assert 'PyTorch path on CPU because its fused C++ kernel cannot be ' \
        'built' in out.stdout
    assert 'no-such-compiler' in out.stdout
    assert "ERROR frame_aggregation backend='cpp' cannot run" in out.stdout
    assert 'dtf_cfg.backend' in out.stdout


def test_unavailable_kernel_auto_falls_back_once_and_cpp_raises(monkeypatch):
    from mmdtf.ops.frame_aggregation import dispatch
    monkeypatch.setattr(cpp_kernel.EXTENSION, 'state',
                        {'error': 'no compiler here'})
    monkeypatch.setattr(dispatch, '_warned_fallback', set())
    with pytest.warns(RuntimeWarning, match='slower PyTorch path on CPU '
                      'because its fused C\\+\\+ kernel cannot be built: no '
                      'compiler here'):
        assert choose_backend('cpu', None, 'auto') == 'torch'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # said once
        assert choose_backend('cpu', None, 'auto') == 'torch'
    with pytest.raises(RuntimeError, match="backend='cpp' cannot run: no "
                       'compiler here.*dtf_cfg.backend'):
        choose_backend('cpu', None, 'cpp')
