"""TIN's temporal shift (``tin_shift``) in pure PyTorch, with its true gradient.

Same signature and forward as ``mmcv.ops.tin_shift`` (a compiled CUDA-only op
that ``mmcv-lite`` lacks): ``x`` of shape ``(N, T, C, HW)`` and an integer
``shift`` of shape ``(N, G)``; the ``C`` channels form ``G`` equal groups and
group ``g`` of clip ``n`` moves by ``s = shift[n, g]`` frames::

    out[n, t + s, c] = x[n, t, c]    (zero where t - s falls outside 0..T-1)

The op is one gather (advanced indexing over ``(N, T, C)`` rows of ``HW``
values: no loop over ``N`` or ``T``), on any device and floating dtype.

The gradient of a shift by ``s`` is the shift of the output gradient by
``-s``: ``grad_x[n, t, c] = grad_out[n, t + s, c]``. mmcv's backward kernel
(``tin_shift_backward_cuda_kernel`` in
``mmcv/ops/csrc/common/cuda/tin_shift_cuda_kernel.cuh``) is a copy of its
forward kernel, ``out[t + s] = in[t]`` on the output gradient: it moves the
gradient by ``+s`` instead of ``-s``, and its gradcheck passes only with
``atol=1, rtol=0.1``. Here the backward is this op with ``-shift``, which
``tests/ops/test_tin_shift.py`` checks with a tight float64 gradcheck.
"""
import torch
from torch.autograd import Function

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32,
                    torch.float64)
SHIFT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


def check_tin_shift_input(x: torch.Tensor, shift: torch.Tensor) -> None:
    """Raise a clear error for anything ``tin_shift`` cannot take."""
    if not isinstance(x, torch.Tensor) or not isinstance(shift, torch.Tensor):
        raise TypeError('tin_shift expects tensors x (N, T, C, HW) and shift '
                        f'(N, G), got {type(x).__name__} and '
                        f'{type(shift).__name__}.')
    if x.dim() != 4:
        raise ValueError('tin_shift expects x of shape (N, T, C, HW), got a '
                         f'{x.dim()}-D tensor of shape {tuple(x.shape)}.')
    if x.dtype not in SUPPORTED_DTYPES:
        raise TypeError('tin_shift expects a floating x (float16, bfloat16, '
                        f'float32 or float64), got {x.dtype}.')
    if shift.dtype not in SHIFT_DTYPES:
        raise TypeError('tin_shift expects a signed integer shift (whole '
                        'frames; TIN floors its offsets first), got '
                        f'{shift.dtype}.')
    if shift.dim() != 2 or shift.shape[0] != x.shape[0]:
        raise ValueError('tin_shift expects shift of shape (N, G) with N = '
                         f'x.shape[0] = {x.shape[0]}, got shape '
                         f'{tuple(shift.shape)}.')
    channels, groups = x.shape[2], shift.shape[1]
    if groups == 0 or channels % groups:
        raise ValueError(f'tin_shift: the C = {channels} channels of x '
                         f'(N, T, C, HW) must split into the G = {groups} '
                         'groups of shift (N, G); C must be a multiple of G.')
    if shift.device != x.device:
        raise ValueError(f'tin_shift: x is on {x.device}, shift on '
                         f'{shift.device}; put both on one device.')


def _shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``out[n, t, c] = x[n, t - s, c]`` (zero outside), one gather."""
    n, t, c, _ = x.shape
    # source frame of every (clip, frame, channel): (N, T, C)
    shift = shift.long().repeat_interleave(c // shift.shape[1], dim=1)
    frames = torch.arange(t, device=x.device)
    source = frames[None, :, None] - shift[:, None, :]
    inside = (source >= 0) & (source < t)
    batch = torch.arange(n, device=x.device)[:, None, None]
    channel = torch.arange(c, device=x.device)[None, None, :]
    out = x[batch, source.clamp(0, t - 1), channel]
    return out.where(inside[..., None], out.new_zeros(()))


class TINShiftFunction(Function):
    """``tin_shift`` with the reverse shift as its backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(shift)
        return _shift(x, shift)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        shift, = ctx.saved_tensors
        # through the Function again: double backward works too
        return TINShiftFunction.apply(grad_out, -shift.long()), None


def tin_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift channel group ``g`` of clip ``n`` by ``shift[n, g]`` frames.

    Args:
        x: ``(N, T, C, HW)`` features, float16/bfloat16/float32/float64.
        shift: ``(N, G)`` integer shifts in frames, ``C`` a multiple of
            ``G``; positive moves features to later frames.

    Returns:
        ``(N, T, C, HW)``: ``out[n, t + s, c] = x[n, t, c]``, zero where no
        frame moved in.
    """
    check_tin_shift_input(x, shift)
    return TINShiftFunction.apply(x, shift)


__all__ = ['tin_shift', 'TINShiftFunction', 'check_tin_shift_input']
