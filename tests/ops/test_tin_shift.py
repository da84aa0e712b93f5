"""tin_shift: values against a loop over the definition, the true gradient
(tight float64 gradcheck; mmcv's backward shown wrong), MMAction2's TSM
shift as a special case, dtypes and input errors."""
import pytest
import torch
from mmaction.models.backbones.resnet_tsm import TemporalShift
from torch.autograd import Function, gradcheck, gradgradcheck

from mmdtf.ops import tin_shift


def naive_tin_shift(x, shift):
    """``out[n, t + s, c] = x[n, t, c]``, zero outside: loops only."""
    n_clips, frames, channels, _ = x.shape
    group_size = channels // shift.shape[1]
    out = torch.zeros_like(x)
    for n in range(n_clips):
        for c in range(channels):
            s = int(shift[n, c // group_size])
            for t in range(frames):
                if 0 <= t + s < frames:
                    out[n, t + s, c] = x[n, t, c]
    return out


@pytest.mark.parametrize('shape,groups', [((2, 5, 4, 3), 2), ((3, 8, 12, 1), 4),
                                          ((1, 1, 2, 5), 1), ((2, 4, 6, 7), 6)])
def test_matches_loop_reference(shape, groups):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    t = shape[1]
    # every shift from beyond -T to beyond +T, zero included
    shift = torch.randint(-t - 1, t + 2, (shape[0], groups), dtype=torch.int32)
    shift[0, 0] = 0
    torch.testing.assert_close(tin_shift(x, shift), naive_tin_shift(x, shift),
                               rtol=0, atol=0)


def test_gradient_is_the_reverse_shift_tight_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 3, dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([[1, -2, 0], [3, -1, 6]], dtype=torch.int32)
    # linear op: central differences are exact up to rounding (~1e-10)
    assert gradcheck(tin_shift, (x, shift), eps=1e-6, atol=1e-8, rtol=1e-8)
    assert gradgradcheck(tin_shift, (x, shift), eps=1e-6, atol=1e-8,
                         rtol=1e-8)
    grad_out = torch.randn_like(x)
    grad, = torch.autograd.grad(tin_shift(x, shift), x, grad_out)
    torch.testing.assert_close(grad, naive_tin_shift(grad_out, -shift),
                               rtol=0, atol=0)


def mmcv_backward_kernel(grad_out, shift):
    """mmcv's ``tin_shift_backward_cuda_kernel`` (mmcv/ops/csrc/common/cuda/
    tin_shift_cuda_kernel.cuh) read in Python: for every (n, c, hw) it loops
    ``i`` over frames and writes ``output[i + t_shift] = input[i]`` with
    ``input`` the output gradient: the forward kernel's statement verbatim,
    i.e. the gradient moved by ``+shift``."""
    n_clips, frames, channels, _ = grad_out.shape
    group_channel = channels // shift.shape[1]
    grad_in = torch.zeros_like(grad_out)
    for n in range(n_clips):
        for j in range(channels):
            t_shift = int(shift[n, j // group_channel])
            for i in range(frames):
                now_t = i + t_shift
                if 0 <= now_t < frames:
                    grad_in[n, now_t, j] = grad_out[n, i, j]
    return grad_in


class MMCVShift(Function):
    """Our forward with mmcv's backward, to show what their gradcheck hides."""

    @staticmethod
    def forward(ctx, x, shift):
        ctx.save_for_backward(shift)
        return naive_tin_shift(x, shift)

    @staticmethod
    def backward(ctx, grad_out):
        shift, = ctx.saved_tensors
        return mmcv_backward_kernel(grad_out, shift), None


def test_mmcv_backward_moves_the_gradient_the_wrong_way():
    """How the upstream defect was verified: mmcv's backward kernel applied
    to an output gradient equals the *forward* shift of it, not the reverse;
    with it a tight gradcheck fails, and it passes only at the tolerance of
    mmcv's own test (tests/test_ops/test_tin_shift.py: atol=1, rtol=0.1)."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([[1, -1]], dtype=torch.int32)
    grad_out = torch.randn_like(x)
    theirs = mmcv_backward_kernel(grad_out, shift)
    torch.testing.assert_close(theirs, tin_shift(grad_out, shift))
    ours, = torch.autograd.grad(tin_shift(x, shift), x, grad_out)
    assert not torch.allclose(theirs, ours)
    assert not gradcheck(MMCVShift.apply, (x, shift), eps=1e-6, atol=1e-8,
                         rtol=1e-8, raise_exception=False)
    assert gradcheck(MMCVShift.apply, (x, shift), atol=1, rtol=0.1)
    assert gradcheck(tin_shift, (x, shift), eps=1e-6, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize('shift_div', [3, 4, 8])
def test_equals_tsm_shift_forward_and_backward(shift_div):
    """TSM (MMAction2's TemporalShift.shift): the first C / shift_div
    channels move one frame back, the next C / shift_div one frame
    forward: tin_shift with G = shift_div groups and shifts [-1, +1, 0..]."""
    torch.manual_seed(0)
    n, t, c, h, w = 2, 6, 4 * shift_div, 3, 2
    x = torch.randn(n * t, c, h, w, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(n * t, c, h, w, dtype=torch.float64)
    tsm = TemporalShift.shift(x, t, shift_div=shift_div).view(n * t, c, h, w)
    shift = torch.zeros(n, shift_div, dtype=torch.int64)
    shift[:, 0], shift[:, 1] = -1, 1
    ours = tin_shift(x.view(n, t, c, h * w), shift).view(n * t, c, h, w)
    torch.testing.assert_close(ours, tsm, rtol=0, atol=0)
    grad_tsm, = torch.autograd.grad(tsm, x, grad_out)
    grad_ours, = torch.autograd.grad(ours, x, grad_out)
    # TSM's zero frames are `x - x`: their (cancelling) gradients round
    torch.testing.assert_close(grad_ours, grad_tsm, rtol=0, atol=1e-15)


def _dtype_case(device, dtype):
    torch.manual_seed(0)
    x64 = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    shift = torch.tensor([[2, -1], [0, -3]], dtype=torch.int32)
    x = x64.to(device, dtype).requires_grad_()
    out = tin_shift(x, shift.to(device))
    assert out.dtype == dtype and out.device == x.device
    # data movement only: exact in every dtype
    expected = naive_tin_shift(x64, shift).to(dtype)
    torch.testing.assert_close(out.cpu(), expected, rtol=0, atol=0)
    grad_out = torch.randn_like(x64)
    grad, = torch.autograd.grad(out, x, grad_out.to(device, dtype))
    torch.testing.assert_close(
        grad.cpu(), naive_tin_shift(grad_out, -shift).to(dtype), rtol=0,
        atol=0)


@pytest.mark.parametrize(
    'dtype', [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes_cpu(dtype):
    _dtype_case('cpu', dtype)


@pytest.mark.cuda
@pytest.mark.parametrize(
    'dtype', [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes_cuda(dtype):
    _dtype_case('cuda', dtype)


@pytest.mark.parametrize('x,shift,error,match', [
    (torch.zeros(2, 3, 4), torch.zeros(2, 2, dtype=torch.int32), ValueError,
     r'x of shape \(N, T, C, HW\), got a 3-D tensor of shape \(2, 3, 4\)'),
    (torch.zeros(2, 3, 4, 5, dtype=torch.int32),
     torch.zeros(2, 2, dtype=torch.int32), TypeError,
     'floating x .* got torch.int32'),
    (torch.zeros(2, 3, 4, 5), torch.zeros(2, 2), TypeError,
     'signed integer shift .* got torch.float32'),
    (torch.zeros(2, 3, 4, 5), torch.zeros(3, 2, dtype=torch.int32),
     ValueError, r'N = x.shape\[0\] = 2, got shape \(3, 2\)'),
    (torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, dtype=torch.int32),
     ValueError, 'C = 4 channels .* G = 3 groups'),
    (torch.zeros(2, 3, 4, 5).numpy(), torch.zeros(2, 2, dtype=torch.int32),
     TypeError, 'got ndarray and Tensor'),
])
def test_bad_input_is_named(x, shift, error, match):
    with pytest.raises(error, match=match):
        tin_shift(x, shift)
