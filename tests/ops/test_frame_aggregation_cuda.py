"""Frame-wise Aggregation on CUDA with the CuPy kernels: float64 gradcheck,
agreement with the PyTorch path, the registered operator's CUDA kernel
(torch.library.opcheck, exact fake outputs, one graph under torch.compile),
streams, devices and autocast. Marked ``cuda``: skipped without CUDA or a
working CuPy, a failure then with MMDTF_REQUIRE_CUDA=1 (tests/cuda_marker.py).
What needs no CuPy (the fallback warning, the forced-backend error) is in
test_frame_aggregation_cuda_fallback.py and runs everywhere; the kernels'
logic is also checked on the CPU, through a host emulation, in
test_cuda_sources.py."""
import pytest
import torch

from mmdtf.ops import frame_aggregation
from mmdtf.ops.frame_aggregation import (frame_aggregation_backward_op,
                                         frame_aggregation_op)
from mmdtf.ops.frame_aggregation import custom_op
from mmdtf.ops.frame_aggregation.cupy_kernel import cupy_unavailable_reason

pytestmark = pytest.mark.cuda(cupy=True)
DEVICE = 'cuda:0'


def run_both(x, k, gy, gc, backends=('cupy', 'torch')):
    """y, corr and grad_x (from grad_y and grad_corr) for each backend."""
    out = []
    for backend in backends:
        xi = x.detach().requires_grad_()
        y, corr = frame_aggregation(xi, k, backend=backend)
        (g, ) = torch.autograd.grad((y, corr), xi, (gy, gc))
        out.append((y, corr, g))
    return out


# (kernel size, (N, C, T, H, W)): odd H and W, C not a power of two, N > 1,
# T from 2 to 16, H or W below k (a window wider than the image).
GRADCHECK_CASES = [
    (1, (2, 3, 2, 3, 5)),
    (3, (2, 5, 4, 5, 3)),
    (3, (2, 3, 16, 3, 5)),
    (5, (2, 3, 3, 5, 7)),
    (7, (2, 3, 2, 7, 5)),
    (7, (3, 6, 5, 3, 1)),
]


@pytest.mark.parametrize('k,shape', GRADCHECK_CASES)
def test_gradcheck_float64(k, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, device=DEVICE,
                    requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda i: frame_aggregation(i, k, backend='cupy'), (x, ),
        nondet_tol=0.0)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('shape', [(3, 20, 4, 9, 11), (2, 7, 16, 5, 3),
                                   (2, 3, 1, 5, 5)])
def test_float32_matches_torch(k, shape):
    torch.manual_seed(1)
    x = torch.randn(*shape, device=DEVICE)
    gy = torch.randn_like(x)
    gc = torch.randn(shape[0], k * k, *shape[2:], device=DEVICE)
    (y, corr, g), (y_ref, corr_ref, g_ref) = run_both(x, k, gy, gc)
    assert y.dtype == corr.dtype == torch.float32
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4)
    assert torch.all(corr[:, :, -1] == 0)


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 4e-3),
                                       (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize('k', [3, 5])
def test_half_precision_matches_torch(dtype, tol, k):
    torch.manual_seed(2)
    x = torch.randn(2, 24, 4, 7, 9, device=DEVICE).to(dtype)
    gy = torch.randn_like(x)
    gc = torch.randn(2, k * k, 4, 7, 9, device=DEVICE).to(dtype)
    (y, corr, g), (y_ref, corr_ref, g_ref) = run_both(x, k, gy, gc)
    assert y.dtype == corr.dtype == g.dtype == dtype
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(corr, corr_ref, rtol=tol, atol=tol)
    scale = g_ref.abs().max().item()
    torch.testing.assert_close(g.float(), g_ref.float(), rtol=2 * tol,
                               atol=2 * tol * scale)


def test_one_output_used():
    """Only y or only corr in the graph: the other gradient is None (no
    zero tensor is made), and each agrees with the PyTorch path."""
    torch.manual_seed(3)
    x = torch.randn(2, 6, 3, 5, 7, device=DEVICE, dtype=torch.float64)
    for pick in (0, 1):
        grads = []
        for backend in ('cupy', 'torch'):
            xi = x.clone().requires_grad_()
            out = frame_aggregation(xi, 3, backend=backend)[pick]
            (out * torch.linspace(-1, 1, out.numel(), device=DEVICE,
                                  dtype=out.dtype).view_as(out)).sum() \
                .backward()
            grads.append(xi.grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-10,
                                   atol=1e-10)


def test_non_contiguous_input():
    torch.manual_seed(4)
    base = torch.randn(2, 5, 13, 9, 7, device=DEVICE)  # N T C H W
    views = [base.transpose(1, 2),  # (N, C, T, H, W) with permuted strides
             base.transpose(1, 2)[:, 1:12:2, :, 1:, ::2]]  # sliced too
    for x in views:
        assert not x.is_contiguous()
        gy = torch.randn(x.shape, device=DEVICE)
        gc = torch.randn(x.shape[0], 9, *x.shape[2:], device=DEVICE)
        (y, corr, g), (y_ref, corr_ref, g_ref) = run_both(x, 3, gy, gc)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(corr, corr_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4)
        # non-contiguous gradients too
        gy_nc = torch.randn(gy.shape[::-1], device=DEVICE).permute(
            4, 3, 2, 1, 0)
        (_, _, g), (_, _, g_ref) = run_both(x, 3, gy_nc, gc)
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda(devices=2, cupy=True)
def test_non_default_device():
    """The tensors on cuda:1 while cuda:0 is current (for PyTorch and for
    CuPy): the kernels are loaded and launched on the tensors' device, on
    PyTorch's current stream of that device."""
    torch.manual_seed(5)
    x = torch.randn(2, 6, 3, 5, 7)
    gy, gc = torch.randn_like(x), torch.randn(2, 9, 3, 5, 7)
    before = torch.cuda.current_device()
    dev = torch.device('cuda', 1)
    assert cupy_unavailable_reason(dev) is None
    (y, corr, g), = run_both(x.to(dev), 3, gy.to(dev), gc.to(dev),
                             backends=('cupy', ))
    assert y.device == corr.device == g.device == dev
    assert torch.cuda.current_device() == before
    (y_ref, corr_ref, g_ref), = run_both(x, 3, gy, gc, backends=('torch', ))
    torch.testing.assert_close(y.cpu(), y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(corr.cpu(), corr_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g.cpu(), g_ref, rtol=1e-4, atol=1e-4)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the forward calls of each CUDA kernel of the op."""
    calls = {'cupy': 0, 'torch': 0}
    for backend in calls:
        kernel = custom_op.KERNELS[('cuda', backend)]

        def counted(x, k, backend=backend, forward=kernel.forward):
            calls[backend] += 1
            return forward(x, k)

        monkeypatch.setitem(custom_op.KERNELS, ('cuda', backend),
                            kernel._replace(forward=counted))
    return calls


def test_dispatcher_picks_cupy(kernel_calls):
    x = torch.randn(2, 4, 3, 5, 5, device=DEVICE, requires_grad=True)
    frame_aggregation(x, 3)  # backend='auto'
    frame_aggregation(x, 3, backend='cupy')
    assert kernel_calls == {'cupy': 2, 'torch': 0}
    y, corr = frame_aggregation(x, 3, backend='torch')
    assert kernel_calls == {'cupy': 2, 'torch': 1}
    # one operator, whichever kernel runs
    assert 'mmdtf_frame_aggregation' in type(y.grad_fn).__name__


def laid_out(kind, dtype):
    """A (2, 6, 4, 5, 3) tensor on CUDA stored as the layouts FA meets."""
    n, c, t, h, w = 2, 6, 4, 5, 3
    torch.manual_seed(8)
    if kind == 'frames':  # ResNetDTF: (N, T, C, H, W) memory
        x = torch.randn(n, t, c, h, w).transpose(1, 2)
    elif kind == 'channels_last':  # SwinDTF's tokens: copied by CuPy's
        x = torch.randn(n, t, h, w, c).permute(0, 4, 1, 2, 3)
    elif kind == 'standard':
        x = torch.randn(n, c, t, h, w)
    else:
        x = torch.randn(n, c, h, t, w).transpose(2, 3)
    return x.to(DEVICE, dtype)


@pytest.mark.parametrize('backend', ['cupy', 'torch'])
@pytest.mark.parametrize('kind',
                         ['frames', 'channels_last', 'standard', 'other'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float16])
def test_opcheck(backend, kind, dtype):
    """The op's CUDA kernel: schema, fake implementation (the shapes,
    strides and dtypes torch.compile plans with), autograd registration,
    by torch.library.opcheck; and the fake outputs equal to the real ones
    for both backends."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    x = laid_out(kind, dtype).requires_grad_()
    torch.library.opcheck(frame_aggregation_op, (x, 3, backend))
    y, corr = frame_aggregation_op(x.detach(), 3, backend)
    with FakeTensorMode() as mode:
        fake = frame_aggregation_op(mode.from_tensor(x.detach()), 3, backend)
    for real, faked in zip((y, corr), fake):
        assert (faked.shape, faked.stride(), faked.dtype, faked.device) == (
            real.shape, real.stride(), real.dtype, real.device)
    saved_corr = corr if backend == 'torch' else None  # CuPy recomputes
    grad_y, grad_corr = torch.randn_like(y), torch.randn_like(corr)
    for gy, gc in ((grad_y, grad_corr), (None, grad_corr), (grad_y, None)):
        torch.library.opcheck(frame_aggregation_backward_op,
                              (gy, gc, x.detach(), saved_corr, 3, backend))


def test_compiled_dtf_net_is_one_graph_with_cupy(kernel_calls):
    """A DTF-Net on CUDA with the CuPy backend under torch.compile: no
    graph break, one FA node per block, the CuPy kernels running inside
    the compiled step, and eager mode's features and gradients (float64;
    aot_eager: dynamo and AOT autograd; inductor runs in
    tools/gpu_check.sh)."""
    from mmdtf.models import DTFBlock, ResNetDTF
    torch.manual_seed(9)
    model = ResNetDTF(depth=18, clip_len=8, temporal_stride=4,
                      pretrained=None, dtf_cfg=dict(backend='cupy'))
    model.init_weights()
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, DTFBlock):
                block.gamma.normal_()
                block.beta.normal_(std=0.1)
    model = model.to(DEVICE).double().eval()
    x = torch.randn(2, 3, 8, 32, 32, device=DEVICE, dtype=torch.float64,
                    requires_grad=True)
    blocks = sum(isinstance(m, DTFBlock) for m in model.modules())
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    nodes = [str(node.target) for graph in explained.graphs
             for node in graph.graph.nodes]
    assert nodes.count('mmdtf.frame_aggregation.default') == blocks > 0
    torch._dynamo.reset()
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    kernel_calls['cupy'] = 0
    out = compiled(x)
    assert kernel_calls == {'cupy': blocks, 'torch': 0}
    out_ref = model(x)
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-10)
    weight = torch.randn_like(out_ref)
    grad = torch.autograd.grad((out * weight).sum(), x)[0]
    grad_ref = torch.autograd.grad((out_ref * weight).sum(), x)[0]
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-10)


def test_autocast_runs_in_input_dtype():
    torch.manual_seed(6)
    x = torch.randn(2, 8, 3, 5, 5, device=DEVICE, requires_grad=True)
    with torch.autocast('cuda', dtype=torch.float16):
        y, corr = frame_aggregation(x, 3, backend='cupy')
        assert y.dtype == corr.dtype == torch.float32
        loss = y.square().mean() + corr.mean()
    loss.backward()
    x2 = x.detach().clone().requires_grad_()
    y2, corr2 = frame_aggregation(x2, 3, backend='torch')
    (y2.square().mean() + corr2.mean()).backward()
    torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-6)


def dtf_net_step_under_autocast(device, backend):
    """One forward + backward of a small DTF-Net (DTF blocks away from the
    identity) under bfloat16 autocast: the model, its output and the FA
    Function types seen in the graph."""
    from mmaction.registry import MODELS

    from mmdtf.models import DTFBlock
    torch.manual_seed(7)
    model = MODELS.build(dict(type='ResNetDTF', depth=18, clip_len=16,
                              pretrained=None,
                              dtf_cfg=dict(backend=backend))).to(device)
    model.init_weights()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DTFBlock):
                module.gamma.normal_()
                module.beta.normal_(std=0.1)
    x = torch.randn(2, 3, 16, 32, 32, device=device)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        out = model(x)
    out.float().square().mean().backward()
    return model, out


def test_dtf_net_trains_under_bfloat16_autocast():
    model, out = dtf_net_step_under_autocast(DEVICE, 'cupy')
    assert out.shape == (2, 512, 4, 1, 1) and torch.isfinite(out).all()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    # the DTF parameters learn: non-zero gradients reach them
    assert model.layer1[0].conv1.conv.dtf.gamma.grad.abs().sum() > 0
    assert model.layer4[0].conv1.conv.dtf.filter.estimator.weight.grad.abs(
    ).sum() > 0


def test_runs_on_the_current_stream():
    torch.manual_seed(7)
    x = torch.randn(8, 32, 4, 28, 28, device=DEVICE)
    gy = torch.randn_like(x)
    gc = torch.randn(8, 9, 4, 28, 28, device=DEVICE)
    expected = run_both(x, 3, gy, gc, backends=('cupy', ))[0]
    import cupy
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    # CuPy's own current stream is yet another one: the kernels must take
    # PyTorch's
    with torch.cuda.stream(side), cupy.cuda.Stream(non_blocking=True):
        got = run_both(x, 3, gy, gc, backends=('cupy', ))[0]
        # no synchronisation before reading on the side stream: a kernel on
        # another stream would race with these reads
        sums = [t.double().sum() for t in got]
    torch.cuda.synchronize()
    for a, b, s in zip(got, expected, sums):
        assert torch.equal(a, b)  # no atomics: bit-for-bit deterministic
        assert s.item() == b.double().sum().item()


def test_empty_and_single_frame():
    x = torch.randn(0, 3, 4, 5, 5, device=DEVICE)
    y, corr = frame_aggregation(x, 3, backend='cupy')
    assert y.shape == x.shape and corr.shape == (0, 9, 4, 5, 5)
    x = torch.randn(2, 3, 1, 5, 5, device=DEVICE, requires_grad=True)
    y, corr = frame_aggregation(x, 3, backend='cupy')
    assert torch.equal(y, x) and torch.all(corr == 0)
    gy = torch.randn_like(y)
    (g, ) = torch.autograd.grad((y, corr), x, (gy, torch.randn_like(corr)))
    assert torch.equal(g, gy)
