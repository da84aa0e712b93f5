"""The spectral channel mixing: its three norms against a naive complex
reference (a complex matrix product, then the batch norm written out by hand
in train and eval form), and the eval shortcut that computes only what the
inverse real DFT reads."""
import copy

import pytest
import torch

from mmdtf.models.blocks import SpectralChannelMixing
from mmdtf.models.blocks.spectral_transforms import irdft_time, irfft_time

CHANNELS = 6
C = CHANNELS


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


def naive_mixing(spec, weight_real, weight_imag, norm, stats=None, eps=1e-5):
    """``spec`` (N, C, M, H, W) complex; returns the complex result."""
    weight = torch.complex(weight_real, weight_imag)
    mixed = torch.einsum('oc,ncmhw->nomhw', weight, spec)
    if norm == 'none':
        return mixed
    parts = torch.view_as_real(mixed)  # (N, C, M, H, W, 2)
    if norm == 'batch':  # 2C channels: real parts, then imaginary parts
        per_channel = parts.permute(5, 1, 0, 2, 3, 4).reshape(2 * C, -1)
    else:  # 'batch_shared': C channels over both parts
        per_channel = parts.permute(1, 0, 2, 3, 4, 5).reshape(C, -1)
    if stats is None:
        mean = per_channel.mean(1)
        var = per_channel.var(1, unbiased=False)
    else:
        mean, var = stats
    normed = (per_channel - mean[:, None]) / torch.sqrt(var[:, None] + eps)
    if norm == 'batch':
        normed = normed.view(2, C, *parts.shape[:1], *parts.shape[2:5])
        normed = normed.permute(2, 1, 3, 4, 5, 0)
    else:
        normed = normed.view(C, parts.shape[0], *parts.shape[2:])
        normed = normed.transpose(0, 1)
    return torch.view_as_complex(normed.contiguous())


def bins_outermost(spec):
    """The layout the time transforms give: (N, C, M, H, W) views of
    (N, M, C, H, W) memory."""
    return tuple(part.transpose(1, 2).contiguous().transpose(1, 2)
                 for part in (spec.real, spec.imag))


@pytest.mark.parametrize('norm', SpectralChannelMixing.NORMS)
@pytest.mark.parametrize('training', [True, False])
def test_matches_the_naive_mixing(norm, training):
    mixing = trained_mixing(norm=norm).train(training)
    torch.manual_seed(1)
    spec = torch.randn(3, C, 3, 2, 4, dtype=torch.complex128)
    stats = None
    if not training and mixing.norm is not None:
        stats = (mixing.norm.running_mean.clone(),
                 mixing.norm.running_var.clone())
    expected = naive_mixing(spec, mixing.weight_real, mixing.weight_imag,
                            norm, stats)
    real, imag = mixing(bins_outermost(spec))
    torch.testing.assert_close(real, expected.real, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(imag, expected.imag, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('norm', ['batch', 'batch_shared'])
def test_running_statistics_follow_the_batch(norm):
    mixing = trained_mixing(norm=norm).train()
    before = mixing.norm.running_mean.clone()
    torch.manual_seed(2)
    spec = torch.randn(3, C, 3, 2, 4, dtype=torch.complex128)
    mixing(bins_outermost(spec))
    mixed = torch.einsum('oc,ncmhw->nomhw', torch.complex(
        mixing.weight_real, mixing.weight_imag).detach(), spec)
    parts = torch.view_as_real(mixed)
    if norm == 'batch':
        mean = parts.permute(5, 1, 0, 2, 3, 4).reshape(2 * C, -1).mean(1)
    else:
        mean = parts.permute(1, 0, 2, 3, 4, 5).reshape(C, -1).mean(1)
    torch.testing.assert_close(mixing.norm.running_mean,
                               0.9 * before + 0.1 * mean)


def test_identity_init_passes_the_spectrum_through():
    mixing = SpectralChannelMixing(C, norm='none').double()
    assert mixing.norm is None
    spec = torch.randn(2, C, 3, 2, 2, dtype=torch.complex128)
    real, imag = mixing(bins_outermost(spec))
    torch.testing.assert_close(real, spec.real, rtol=0, atol=0)
    torch.testing.assert_close(imag, spec.imag, rtol=0, atol=0)


def test_reference_init_is_small_and_random():
    torch.manual_seed(0)
    mixing = SpectralChannelMixing(64, norm='batch_shared', init='random')
    for weight in (mixing.weight_real, mixing.weight_imag):
        assert abs(float(weight.std()) - 0.02) < 0.002


@pytest.mark.parametrize('cfg, match', [
    (dict(norm='layer'), 'norm must be one of'),
    (dict(init='zeros'), 'init one of'),
])
def test_bad_options_name_the_config_key(cfg, match):
    with pytest.raises(ValueError, match=match) as info:
        SpectralChannelMixing(C, **cfg)
    assert 'dtf_cfg.channel_mixing' in str(info.value)
