"""Frame-wise Aggregation, PyTorch path: values against a direct reading of
the spec's formula, float64 gradcheck, dtypes, memory and input errors."""
import pytest
import torch
import torch.nn.functional as F

from mmdtf.ops import FrameAggregation, frame_aggregation


def reference_frame_aggregation(x, kernel_size):
    """Spec section 1 written as literally as possible (F.unfold: k*k copy)."""
    n, c, t, h, w = x.shape
    r = kernel_size // 2
    k2 = kernel_size * kernel_size
    corr = x.new_zeros(n, k2, t, h, w)
    agg = torch.zeros_like(x)
    for ti in range(t - 1):
        nxt = F.unfold(x[:, :, ti + 1], kernel_size, padding=r)
        nxt = nxt.view(n, c, k2, h, w)  # j = (dy + r) * k + (dx + r)
        corr[:, :, ti] = (x[:, :, ti, None] * nxt).sum(1) / c
        attn = corr[:, :, ti].softmax(1)
        agg[:, :, ti] = (attn[:, None] * nxt).sum(2)
    return x + agg, corr


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
@pytest.mark.parametrize('shape', [(2, 5, 4, 7, 6), (1, 3, 2, 1, 1),
                                   (1, 8, 1, 4, 4), (3, 16, 3, 5, 9)])
def test_matches_spec_formula(kernel_size, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    y, corr = frame_aggregation(x, kernel_size)
    y_ref, corr_ref = reference_frame_aggregation(x, kernel_size)
    assert y.shape == x.shape
    assert corr.shape == (shape[0], kernel_size**2) + shape[2:]
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    assert torch.all(corr[:, :, -1] == 0)
    torch.testing.assert_close(y[:, :, -1], x[:, :, -1])


def test_hand_computed_value():
    # One channel, two frames, 1x2 pixels, k=3: every number below by hand.
    x = torch.tensor([1., 2., 3., 4.], dtype=torch.float64).view(1, 1, 2, 1, 2)
    y, corr = frame_aggregation(x, 3)
    # pixel (0,0): keys of frame 1 in its 3x3 window: 3 at offset (0,0)
    # (j=4) and 4 at offset (0,+1) (j=5); the other 7 are zero padding.
    assert corr[0, 4, 0, 0, 0].item() == 1 * 3
    assert corr[0, 5, 0, 0, 0].item() == 1 * 4
    e3, e4 = torch.exp(torch.tensor(3.)), torch.exp(torch.tensor(4.))
    denom = 7 + e3 + e4
    expected = 1 + (3 * e3 + 4 * e4) / denom
    assert abs(y[0, 0, 0, 0, 0].item() - expected.item()) < 1e-6


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
def test_gradcheck_float64(kernel_size):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda inp: frame_aggregation(inp, kernel_size), (x, ))


def test_backward_matches_autograd_of_reference():
    torch.manual_seed(2)
    x = torch.randn(2, 6, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    gy, gc = torch.randn(2, 6, 4, 6, 5).double(), torch.randn(2, 9, 4, 6, 5).double()
    y, corr = frame_aggregation(x, 3)
    (g, ) = torch.autograd.grad((y * gy).sum() + (corr * gc).sum(), x)
    y_ref, corr_ref = reference_frame_aggregation(x, 3)
    (g_ref, ) = torch.autograd.grad((y_ref * gy).sum() + (corr_ref * gc).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.bfloat16, 3e-2),
                                       (torch.float16, 3e-3)])
def test_dtypes(dtype, tol):
    torch.manual_seed(3)
    x = torch.randn(2, 8, 3, 5, 5, dtype=torch.float64)
    y_ref, corr_ref = reference_frame_aggregation(x, 3)
    xd = x.to(dtype).requires_grad_()
    y, corr = frame_aggregation(xd, 3)
    assert y.dtype == corr.dtype == dtype
    torch.testing.assert_close(y.double(), y_ref, rtol=tol, atol=tol * 4)
    torch.testing.assert_close(corr.double(), corr_ref, rtol=tol, atol=tol * 4)
    y.float().sum().backward()
    assert xd.grad.dtype == dtype and torch.isfinite(xd.grad.float()).all()


def test_non_contiguous_input():
    torch.manual_seed(4)
    base = torch.randn(2, 4, 6, 5, 3, dtype=torch.float64)  # N T C H W
    x = base.transpose(1, 2)  # (N, C, T, H, W) view, not contiguous
    assert not x.is_contiguous()
    for a, b in zip(frame_aggregation(x, 3), reference_frame_aggregation(x.contiguous(), 3)):
        torch.testing.assert_close(a, b)


def test_module_form():
    m = FrameAggregation(kernel_size=5)
    x = torch.randn(1, 2, 3, 4, 4)
    y, corr = m(x)
    assert corr.shape == (1, 25, 3, 4, 4)
    assert 'kernel_size=5' in repr(m)


@pytest.mark.parametrize('bad,match', [
    (torch.randn(2, 3, 4, 4), '5-D tensor.*got a 4-D tensor of shape \\(2, 3, 4, 4\\)'),
    (torch.ones(1, 2, 2, 3, 3, dtype=torch.int64), 'floating tensor.*torch.int64'),
])
def test_bad_input(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        frame_aggregation(bad, 3)


@pytest.mark.parametrize('k', [2, 0, -3, 3.0, True])
def test_bad_kernel_size(k):
    with pytest.raises(ValueError, match=f'odd positive integer kernel_size.*got {k!r}'):
        frame_aggregation(torch.randn(1, 2, 2, 3, 3), k)


def test_bad_backend():
    with pytest.raises(ValueError, match="backend must be one of.*got 'fast'"):
        frame_aggregation(torch.randn(1, 2, 2, 3, 3), 3, backend='fast')
    with pytest.raises(RuntimeError, match="backend='cupy' needs a CUDA tensor"):
        frame_aggregation(torch.randn(1, 2, 2, 3, 3), 3, backend='cupy')
