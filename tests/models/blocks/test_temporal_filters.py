"""The spectral channel mixing's eval-mode shortcut: in eval mode it skips the
imaginary parts of the DC and Nyquist bins, which the inverse real DFT
ignores. Everything the inverse reads, and every gradient, must be what the
full mixing gives. Also the batched matrix product the mixing runs."""
import copy

import pytest
import torch

from mmdtf.models.blocks import SpectralChannelMixing
from mmdtf.models.blocks.spectral_transforms import irdft_time, irfft_time

CHANNELS = 6


def trained_mixing(seed: int = 0,
                   norm: str = 'batch') -> SpectralChannelMixing:
    """A float64 mixing with random weights and running statistics."""
    torch.manual_seed(seed)
    mixing = SpectralChannelMixing(CHANNELS, norm=norm).double()
    with torch.no_grad():
        mixing.weight_real.normal_()
        mixing.weight_imag.normal_()
        if mixing.norm is not None:
            mixing.norm.running_mean.normal_()
            mixing.norm.running_var.uniform_(0.5, 2.)
    return mixing


def random_spectrum(num_frames: int, requires_grad: bool = False):
    bins = num_frames // 2 + 1
    return tuple(
        torch.randn(2, CHANNELS, bins, 3, 4, dtype=torch.float64,
                    requires_grad=requires_grad) for _ in range(2))


def ignored_bins(num_frames: int):
    """Bins whose imaginary part the inverse real DFT ignores."""
    bins = num_frames // 2 + 1
    return [0, bins - 1] if num_frames % 2 == 0 else [0]


@pytest.mark.parametrize('norm', SpectralChannelMixing.NORMS)
@pytest.mark.parametrize('num_frames', [1, 2, 3, 4, 5, 8, 16])
def test_eval_mixing_computes_what_the_inverse_reads(num_frames, norm):
    mixing = trained_mixing(norm=norm).eval()
    spec = random_spectrum(num_frames)
    full_real, full_imag = mixing(spec)
    real, imag = mixing(spec, num_frames)
    assert real.shape == full_real.shape and imag.shape == full_imag.shape
    torch.testing.assert_close(real, full_real, rtol=1e-12, atol=1e-12)
    skipped = ignored_bins(num_frames)
    kept = [m for m in range(num_frames // 2 + 1) if m not in skipped]
    assert torch.count_nonzero(imag[:, :, skipped]) == 0
    torch.testing.assert_close(imag[:, :, kept], full_imag[:, :, kept],
                               rtol=1e-12, atol=1e-12)
    # The full mixing's skipped parts are not zero: the inverse transforms
    # really ignore them.
    assert full_imag[:, :, skipped].abs().min() > 0
    for inverse in (irfft_time, irdft_time):
        torch.testing.assert_close(
            inverse((real, imag), num_frames, torch.float64),
            inverse((full_real, full_imag), num_frames, torch.float64),
            rtol=1e-10, atol=1e-10)


def test_eval_mixing_gradients_equal_the_full_mixing():
    num_frames = 4
    target = torch.randn(2, CHANNELS, num_frames, 3, 4, dtype=torch.float64)
    grads = []
    for frames_given in (None, num_frames):
        mixing = trained_mixing().eval()
        torch.manual_seed(1)
        spec = random_spectrum(num_frames, requires_grad=True)
        out = irfft_time(mixing(spec, frames_given), num_frames,
                         torch.float64)
        (out * target).sum().backward()
        grads.append([mixing.weight_real.grad, mixing.weight_imag.grad,
                      spec[0].grad, spec[1].grad])
    for full, short in zip(*grads):
        assert full.abs().max() > 0
        torch.testing.assert_close(short, full, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('norm', ['batch', 'batch_shared'])
def test_training_mixing_computes_every_part(norm):
    """Batch statistics need every part: in training the shortcut is off,
    and the running statistics update as without ``num_frames``."""
    num_frames = 4
    mixing = trained_mixing(norm=norm).train()
    reference = copy.deepcopy(mixing)
    spec = random_spectrum(num_frames)
    real, imag = mixing(spec, num_frames)
    ref_real, ref_imag = reference(spec)
    torch.testing.assert_close(real, ref_real)
    torch.testing.assert_close(imag, ref_imag)
    assert imag[:, :, 0].abs().min() > 0  # the DC imaginary part is mixed
    torch.testing.assert_close(mixing.norm.running_mean,
                               reference.norm.running_mean)
    torch.testing.assert_close(mixing.norm.running_var,
                               reference.norm.running_var)
    assert not torch.equal(mixing.norm.running_mean,
                           trained_mixing(norm=norm).norm.running_mean)


def test_eval_mixing_keeps_a_bfloat16_model_s_statistics_dtype():
    """A model cast to bfloat16: the norm runs in bfloat16, the spectrum
    stays float32, as in the full mixing."""
    mixing = trained_mixing().float().to(torch.bfloat16).eval()
    spec = tuple(part.float() for part in random_spectrum(4))
    real, imag = mixing(spec, 4)
    full_real, full_imag = mixing(spec)
    assert real.dtype == imag.dtype == torch.float32
    torch.testing.assert_close(real, full_real, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(imag[:, :, 1], full_imag[:, :, 1], rtol=2e-2,
                               atol=2e-2)


@pytest.mark.parametrize('positions', [3, 40])  # folded / expanded weight
@pytest.mark.parametrize('grad_enabled', [True, False])
def test_batched_matmul_equals_matmul(positions, grad_enabled):
    """Both ways batched_matmul runs (see its comments) give matmul's values
    and, with grad enabled, its gradients."""
    from mmdtf.models.blocks.spectral_channel_mixing import batched_matmul
    torch.manual_seed(0)
    weight = torch.randn(12, 12, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 12, positions, dtype=torch.float64,
                    requires_grad=True)
    with torch.set_grad_enabled(grad_enabled):
        got = batched_matmul(weight, x)
    expected = torch.matmul(weight, x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert got.requires_grad == grad_enabled
    if grad_enabled:
        grad = torch.randn_like(expected)
        got_grads = torch.autograd.grad(got, (weight, x), grad)
        expected_grads = torch.autograd.grad(expected, (weight, x), grad)
        for a, b in zip(got_grads, expected_grads):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
