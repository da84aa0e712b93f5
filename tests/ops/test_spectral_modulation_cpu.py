"""The fused CPU kernel of DTF's spectral modulation
(mmdtf/ops/spectral_modulation_cpu.py, ops/spectral_modulation_cpu.cpp):
values against a per-location DFT by hand (numpy's rfft / irfft) in float64,
gradients against finite differences and against autograd through the
PyTorch path (matrix products), every memory layout and clip length, half
precision computed in float32, thread-count independence, and the
fallback where it cannot run."""
import warnings

import numpy as np
import pytest
import torch

from mmdtf.models.blocks import spectral_modulation as modulation
from mmdtf.models.blocks.spectral_modulation import (_modulated,
                                                     spectral_modulation_op)
from mmdtf.ops import spectral_modulation_cpu

LAYOUTS = {'frames': (0, 2, 1, 3, 4), 'contiguous': (0, 1, 2, 3, 4),
           'channels_last': (0, 2, 3, 4, 1)}


@pytest.fixture(scope='module', autouse=True)
def built():
    reason = spectral_modulation_cpu.EXTENSION.unavailable_reason()
    assert reason is None, f'the fused CPU kernel must build here: {reason}'


def inputs(shape=(2, 6, 4, 3, 5), groups=3, layout='frames',
           dtype=torch.float64, seed=0):
    """``y`` stored in ``layout``'s order ('strided': every other column of
    a wider tensor) and the filter as the estimator gives it: views of one
    (N, 2 * groups * M, H, W) output."""
    gen = torch.Generator().manual_seed(seed)
    n, c, t, h, w = shape
    if layout == 'strided':
        y = torch.randn(n, c, t, h, 2 * w, generator=gen)[..., ::2]
    else:
        order = LAYOUTS[layout]
        y = torch.randn([shape[d] for d in order], generator=gen)
        y = y.permute(*sorted(range(5), key=order.__getitem__))
    bins = t // 2 + 1
    estimated = torch.randn(n, 2 * groups * bins, h, w, generator=gen)
    filt = estimated.to(dtype).view(n, 2, groups, 1, bins, h, w)
    return y.to(dtype), filt[:, 0], filt[:, 1]


def by_hand(y, filt_real, filt_imag):
    """Each location and channel on its own: numpy's orthonormal rfft over
    time, times its group's complex filter, irfft back."""
    y = y.detach().double().numpy()
    filt = (filt_real.detach().double().numpy() +
            1j * filt_imag.detach().double().numpy())
    n, c, t, h, w = y.shape
    shared_by = c // filt.shape[1]
    out = np.empty_like(y)
    for i, j, k, l in np.ndindex(n, c, h, w):
        spec = np.fft.rfft(y[i, j, :, k, l], norm='ortho')
        spec = spec * filt[i, j // shared_by, 0, :, k, l]
        out[i, j, :, k, l] = np.fft.irfft(spec, n=t, norm='ortho')
    return torch.from_numpy(out)


def fused(y, filt_real, filt_imag):
    return spectral_modulation_cpu.forward(
        y, filt_real, filt_imag,
        modulation._dft(y, spectral_modulation_cpu.accumulation_dtype(
            y.dtype)))


@pytest.mark.parametrize('layout', list(LAYOUTS) + ['strided'])
@pytest.mark.parametrize('frames', [1, 2, 4, 5, 8, 16, 17])
def test_float64_matches_dft_by_hand(frames, layout):
    """Clip lengths unrolled at compile time (2, 4, 8, 16) and not."""
    args = inputs((2, 6, frames, 3, 5), 3, layout)
    out = fused(*args)
    torch.testing.assert_close(out, by_hand(*args), rtol=1e-12, atol=1e-12)
    # laid out as the PyTorch path lays its result out
    assert out.stride() == _modulated(*args, 'matmul').stride()


@pytest.mark.parametrize('groups', [1, 2, 6])
@pytest.mark.parametrize('layout', ['frames', 'channels_last'])
def test_gradients_match_autograd_through_pytorch_path(layout, groups):
    """Each filter shared by 6, 3 or 1 channels; a row of 19 pixels (two
    full vectors and a partial one)."""
    y, fr, fi = inputs((2, 6, 4, 2, 19), groups, layout)
    estimated = torch.cat([fr, fi], 1).detach().requires_grad_(True)
    y.requires_grad_(True)
    parts = estimated[:, :groups], estimated[:, groups:]
    weight = torch.randn(y.shape, dtype=y.dtype)
    out = spectral_modulation_op(y, *parts)
    grads = torch.autograd.grad((out * weight).sum(), (y, estimated))
    ref = _modulated(y, *parts, 'matmul')
    grads_ref = torch.autograd.grad((ref * weight).sum(), (y, estimated))
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('frames', [4, 5])
def test_gradcheck(frames):
    y, fr, fi = (t.detach().clone().requires_grad_(True)
                 for t in inputs((1, 4, frames, 2, 3), 2))
    assert torch.autograd.gradcheck(spectral_modulation_op, (y, fr, fi))


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16,
                                   torch.float16])
def test_lower_precision_within_its_rounding(dtype):
    """Computed in float32 and rounded once to the dtype: within the
    dtype's rounding of the float64 result of the same (rounded) inputs,
    plus float32's over the kernel's two sums (the operator's 2M products
    and T products per output), at the output's scale."""
    frames = 8
    y, fr, fi = (t.to(dtype) for t in inputs((2, 8, frames, 3, 9), 4))
    out = fused(y, fr, fi)
    assert out.dtype == dtype
    ref = by_hand(y, fr, fi)
    sums = frames + 2 * (frames // 2 + 1)
    bound = (torch.finfo(dtype).eps / 2 * ref.abs() +
             sums * torch.finfo(torch.float32).eps * ref.abs().max())
    assert ((out.double() - ref).abs() <= bound).all()


def test_same_result_with_any_number_of_threads():
    """Each output and each filter gradient is written by one task, summed
    in one order: bitwise the same whatever torch.set_num_threads says."""
    y, fr, fi = inputs((2, 8, 4, 7, 9), 2, dtype=torch.float32)
    y, fr, fi = (t.detach().requires_grad_(True) for t in (y, fr, fi))
    grad = torch.randn(y.shape)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            out = spectral_modulation_op(y, fr, fi)
            results.append((out, ) + torch.autograd.grad(out, (y, fr, fi),
                                                         grad))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_unsupported_input_runs_the_pytorch_path_and_says_so_once(
        monkeypatch):
    """More frames than the kernel is built for, or no compiler: the
    PyTorch path, with one warning per reason naming it."""
    monkeypatch.setattr(modulation, '_warned', set())
    frames = spectral_modulation_cpu.MAX_FRAMES + 1
    args = inputs((1, 2, frames, 1, 2), 1)
    with pytest.warns(RuntimeWarning, match=f'{frames} frames.*at most '
                      f'{frames - 1}.*PyTorch matrix products'):
        out = spectral_modulation_op(*args)
    torch.testing.assert_close(out, by_hand(*args), rtol=1e-12, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        spectral_modulation_op(*args)  # said once
    monkeypatch.setattr(spectral_modulation_cpu.EXTENSION, 'state',
                        {'error': 'no compiler here'})
    args = inputs()
    with pytest.warns(RuntimeWarning, match='no compiler here'):
        out = spectral_modulation_op(*args)
    torch.testing.assert_close(out, by_hand(*args), rtol=1e-12, atol=1e-12)
