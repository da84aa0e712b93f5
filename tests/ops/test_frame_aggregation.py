"""Frame-wise Aggregation, PyTorch path: values against a direct reading of
the spec's formula, float64 gradcheck, dtypes, memory and input errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdtf.ops import FrameAggregation, frame_aggregation
from mmdtf.ops.frame_aggregation.torch_kernel import inside_masks
from mmdtf.testing import \
    naive_frame_aggregation as reference_frame_aggregation


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
@pytest.mark.parametrize('shape', [(2, 5, 4, 7, 6), (1, 3, 2, 1, 1),
                                   (1, 8, 1, 4, 4), (3, 16, 3, 5, 9)])
def test_matches_spec_formula(kernel_size, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    y, corr = frame_aggregation(x, kernel_size, backend='torch')
    y_ref, corr_ref = reference_frame_aggregation(x, kernel_size)
    assert y.shape == x.shape
    assert corr.shape == (shape[0], kernel_size**2) + shape[2:]
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    assert torch.all(corr[:, :, -1] == 0)
    torch.testing.assert_close(y[:, :, -1], x[:, :, -1])


def test_hand_computed_value():
    """Spec section 1 by hand: C = 2 channels, T = 2 frames of 3 x 3, k = 3,
    at the centre pixel (all nine keys inside) and at the corner (0, 0)
    (five keys outside the frame). corr is the channel *mean* of the
    query-key products (1/C, not 1/sqrt(C)); keys are j = (dy+1)*3 + (dx+1).
    """
    x = torch.zeros(1, 2, 2, 3, 3, dtype=torch.float64)
    # frame 1, (channel 0, channel 1) at each pixel: all nine pairs differ
    x[0, 0, 1] = torch.tensor([[1., 0., 2.], [-1., 1., 0.], [1., 2., -1.]])
    x[0, 1, 1] = torch.tensor([[0., 1., 1.], [2., 1., -1.], [-1., 0., 0.]])
    # frame 0: the two queries, zero elsewhere
    x[0, :, 0, 1, 1] = torch.tensor([1., -1.])  # centre
    x[0, :, 0, 0, 0] = torch.tensor([2., 1.])  # corner
    y, corr = frame_aggregation(x, 3, backend='torch')

    # Centre, query (1, -1); keys of frame 1 row by row:
    # (1,0) (0,1) (2,1) / (-1,2) (1,1) (0,-1) / (1,-1) (2,0) (-1,0).
    # Products summed over channels: 1, -1, 1, -3, 0, 1, 2, 2, -1; / C = 2.
    centre = torch.tensor([0.5, -0.5, 0.5, -1.5, 0., 0.5, 1., 1., -0.5],
                          dtype=torch.float64)
    torch.testing.assert_close(corr[0, :, 0, 1, 1], centre, rtol=0,
                               atol=1e-12)
    keys0 = torch.tensor([1., 0., 2., -1., 1., 0., 1., 2., -1.],
                         dtype=torch.float64)
    keys1 = torch.tensor([0., 1., 1., 2., 1., -1., -1., 0., 0.],
                         dtype=torch.float64)
    e = torch.exp(centre)  # softmax numerators
    torch.testing.assert_close(
        y[0, :, 0, 1, 1],
        torch.stack([1 + (e * keys0).sum() / e.sum(),
                     -1 + (e * keys1).sum() / e.sum()]),
        rtol=0, atol=1e-12)

    # Corner (0, 0), query (2, 1): keys j = 0, 1, 2, 3, 6 are outside
    # (corr 0, still in the softmax, value 0); inside j = 4 (1,0): 2/2 = 1,
    # j = 5 (0,1): 1/2, j = 7 (-1,2): 0/2 = 0, j = 8 (1,1): 3/2.
    corner = torch.tensor([0., 0., 0., 0., 1., 0.5, 0., 0., 1.5],
                          dtype=torch.float64)
    torch.testing.assert_close(corr[0, :, 0, 0, 0], corner, rtol=0,
                               atol=1e-12)
    e1, e05, e15 = math.exp(1), math.exp(0.5), math.exp(1.5)
    denom = 5 * 1 + e1 + e05 + 1 + e15  # 5 outside + 4 inside
    # channel 0: 1*e^1 + 0*e^0.5 + (-1)*e^0 + 1*e^1.5;
    # channel 1: 0*e^1 + 1*e^0.5 + 2*e^0 + 1*e^1.5
    assert y[0, 0, 0, 0, 0].item() == pytest.approx(
        2 + (e1 - 1 + e15) / denom, abs=1e-12)
    assert y[0, 1, 0, 0, 0].item() == pytest.approx(
        1 + (e05 + 2 + e15) / denom, abs=1e-12)

    # the last frame: corr 0, y = x
    assert torch.all(corr[:, :, 1] == 0)
    assert torch.equal(y[:, :, 1], x[:, :, 1])


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
def test_gradcheck_float64(kernel_size):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda inp: frame_aggregation(inp, kernel_size, backend='torch'), (x, ))


def test_backward_matches_autograd_of_reference():
    torch.manual_seed(2)
    x = torch.randn(2, 6, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    gy, gc = torch.randn(2, 6, 4, 6, 5).double(), torch.randn(2, 9, 4, 6, 5).double()
    y, corr = frame_aggregation(x, 3, backend='torch')
    (g, ) = torch.autograd.grad((y * gy).sum() + (corr * gc).sum(), x)
    y_ref, corr_ref = reference_frame_aggregation(x, 3)
    (g_ref, ) = torch.autograd.grad((y_ref * gy).sum() + (corr_ref * gc).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


def test_float32():
    torch.manual_seed(3)
    x = torch.randn(2, 8, 3, 5, 5, dtype=torch.float64)
    y_ref, corr_ref = reference_frame_aggregation(x, 3)
    y, corr = frame_aggregation(x.float(), 3, backend='torch')
    assert y.dtype == corr.dtype == torch.float32
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-5, atol=4e-5)
    torch.testing.assert_close(corr.double(), corr_ref, rtol=1e-5, atol=4e-5)


#: unit roundoff (half an ulp at 1)
UNIT_ROUNDOFF = {torch.bfloat16: 2.**-8, torch.float16: 2.**-11}


def within_roundoffs(got, expected, scale, dtype):
    """The error of ``got`` in roundoffs of ``dtype`` times ``scale``."""
    return ((got.double() - expected).abs()
            / (UNIT_ROUNDOFF[dtype] * scale)).max().item()


@pytest.mark.parametrize('layout', ['standard', 'frames outermost',
                                    'channels last'])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bfloat16', 'float16'])
def test_half_precision_accumulates_in_float32(dtype, layout):
    """bfloat16/float16 FA against the float64 reference on the same
    (rounded) input: one rounding of each output (<= 1 roundoff of its
    value, plus float32 noise; bound 1.5), the gradient within 2 roundoffs
    of its largest value. Accumulating in the half dtype misses by over a
    hundred (C = 64 channel products per correlation, 9 terms per
    aggregation)."""
    torch.manual_seed(3)
    x = stored_as(torch.randn(2, 64, 3, 5, 5).to(dtype), layout)
    x64 = x.double().requires_grad_()
    y_ref, corr_ref = reference_frame_aggregation(x64, 3)
    gy = torch.randn(x.shape).to(dtype)
    gc = torch.randn(corr_ref.shape).to(dtype)
    (g_ref, ) = torch.autograd.grad((y_ref, corr_ref), x64,
                                    (gy.double(), gc.double()))
    x = x.detach().requires_grad_()
    y, corr = frame_aggregation(x, 3, backend='torch')
    (g, ) = torch.autograd.grad((y, corr), x, (gy, gc))
    assert y.dtype == corr.dtype == g.dtype == dtype
    noise = 1e-6  # float32 accumulation, relative to the largest value
    y_ref, corr_ref = y_ref.detach(), corr_ref.detach()
    assert within_roundoffs(y, y_ref, y_ref.abs() + noise * y_ref.abs().max(),
                            dtype) <= 1.5
    assert within_roundoffs(
        corr, corr_ref, corr_ref.abs() + noise * corr_ref.abs().max(),
        dtype) <= 1.5
    assert within_roundoffs(g, g_ref, g_ref.abs().max(), dtype) <= 2


# memory order of each layout, as dims of (N, C, T, H, W)
LAYOUTS = {'standard': (0, 1, 2, 3, 4),
           'frames outermost': (0, 2, 1, 3, 4),  # ResNetDTF
           'channels last': (0, 2, 3, 4, 1),  # SwinDTF
           'other': (0, 3, 4, 2, 1)}  # (N, H, W, T, C): copied


def stored_as(x, layout):
    """``x`` (N, C, T, H, W) with the same values stored in ``layout``."""
    order = LAYOUTS[layout]
    inverse = sorted(range(5), key=order.__getitem__)
    return x.permute(*order).contiguous().permute(*inverse)


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_any_memory_layout(layout, kernel_size):
    """Values and gradients as the spec's formula for every layout (odd
    H and W, C not a power of two); the three layouts the torch path reads
    in place come back in their own layout."""
    torch.manual_seed(5)
    x = torch.randn(2, 5, 4, 6, 7, dtype=torch.float64)
    gy = torch.randn_like(x)
    gc = torch.randn(2, kernel_size**2, 4, 6, 7, dtype=torch.float64)
    xs = stored_as(x, layout).requires_grad_()
    assert torch.equal(xs, x)
    y, corr = frame_aggregation(xs, kernel_size, backend='torch')
    (g, ) = torch.autograd.grad((y * gy).sum() + (corr * gc).sum(), xs)
    x_ref = x.clone().requires_grad_()
    y_ref, corr_ref = reference_frame_aggregation(x_ref, kernel_size)
    (g_ref, ) = torch.autograd.grad(
        (y_ref * gy).sum() + (corr_ref * gc).sum(), x_ref)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)
    if layout != 'other':
        assert y.stride() == xs.stride()


@pytest.mark.parametrize('layout', ['standard', 'frames outermost',
                                    'channels last'])
def test_gradcheck_layouts(layout):
    torch.manual_seed(6)
    x = stored_as(torch.randn(2, 3, 3, 5, 4, dtype=torch.float64), layout)
    assert torch.autograd.gradcheck(
        lambda inp: frame_aggregation(inp, 3, backend='torch'),
        (x.requires_grad_(), ))


@pytest.mark.parametrize('used', ['y', 'corr'])
def test_one_output_used(used):
    """The gradient of one output alone (the other's is None inside)."""
    torch.manual_seed(7)
    x = torch.randn(2, 4, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    outputs = frame_aggregation(x, 3, backend='torch')
    reference = reference_frame_aggregation(x, 3)
    index = ('y', 'corr').index(used)
    weight = torch.randn_like(outputs[index])
    (g, ) = torch.autograd.grad((outputs[index] * weight).sum(), x)
    (g_ref, ) = torch.autograd.grad((reference[index] * weight).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


def test_inside_masks_by_hand():
    # k=3 on a 2x3 image; pixels in row-major order (0,0) (0,1) ... (1,2)
    mask = inside_masks(3, 2, 3, torch.float32, torch.device('cpu'))
    assert mask.shape == (9, 6)
    assert mask[4].tolist() == [1] * 6  # (0, 0): the pixel itself
    assert mask[0].tolist() == [0, 0, 0, 0, 1, 1]  # (-1, -1)
    assert mask[2].tolist() == [0, 0, 0, 1, 1, 0]  # (-1, +1)
    assert mask[3].tolist() == [0, 1, 1, 0, 1, 1]  # (0, -1)
    assert mask[8].tolist() == [1, 1, 0, 0, 0, 0]  # (+1, +1)
    assert inside_masks(3, 2, 3, torch.float32, torch.device('cpu')) is mask


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
