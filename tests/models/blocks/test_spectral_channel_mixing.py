"""The channel mixing's three norms against a naive complex reference: a
complex matrix product, then the batch norm written out by hand (train form
on the batch's statistics, eval form on the running ones)."""
import pytest
import torch

from mmdtf.models.blocks import SpectralChannelMixing

C = 5


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


def random_mixing(norm, seed=0):
    torch.manual_seed(seed)
    mixing = SpectralChannelMixing(C, norm=norm).double()
    with torch.no_grad():
        mixing.weight_real.normal_()
        mixing.weight_imag.normal_()
        if mixing.norm is not None:
            mixing.norm.running_mean.normal_()
            mixing.norm.running_var.uniform_(0.5, 2)
    return mixing


def bins_outermost(spec):
    """The layout the time transforms give: (N, C, M, H, W) views of
    (N, M, C, H, W) memory."""
    return tuple(part.transpose(1, 2).contiguous().transpose(1, 2)
                 for part in (spec.real, spec.imag))


@pytest.mark.parametrize('norm', SpectralChannelMixing.NORMS)
@pytest.mark.parametrize('training', [True, False])
def test_matches_the_naive_mixing(norm, training):
    mixing = random_mixing(norm).train(training)
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
    mixing = random_mixing(norm).train()
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
    mixing = SpectralChannelMixing(C).double()
    assert mixing.norm is None  # the default has no norm
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
