"""DTF block: identity at init, the gradient that lets it leave the identity,
errors name values and keys, the spectral transforms. Values and gradients of
every variant against the naive reference: test_dtf_block_reference.py."""
import copy

import pytest
import torch
from mmaction.registry import MODELS

from mmdtf.models import DTFBlock

VARIANTS = {
    'DTF': dict(),
    'DTF_1d': dict(filter_type='conv1d'),
    'DTF_1d+': dict(filter_type='dynamic_conv1d'),
    'DTF_1d channel-wise': dict(filter_type='conv1d_channelwise'),
    'DTF_F': dict(filter_type='static'),
    'no FA': dict(aggregate=False, use_corr=False),
    'FA without corr': dict(use_corr=False),
    'corr without FA': dict(aggregate=False),
    'no channel mixing': dict(channel_mixing=False),
}


@pytest.mark.parametrize('variant', VARIANTS)
def test_fresh_block_is_identity(variant):
    torch.manual_seed(0)
    block = MODELS.build(dict(type='DTFBlock', in_channels=32, num_frames=4,
                              **VARIANTS[variant]))
    block.init_weights()
    x = torch.randn(2, 32, 4, 5, 6)
    assert torch.equal(block(x), x)


def test_gamma_gets_gradient_at_identity_init():
    torch.manual_seed(0)
    block = DTFBlock(16, 4)
    x = torch.randn(1, 16, 4, 3, 3)
    block(x).sum().backward()
    assert block.gamma.grad.abs().sum() > 0  # the block can leave identity


def test_static_filter_all_pass_at_init():
    block = DTFBlock(8, 6, filter_type='static', channel_mixing=False)
    y = torch.randn(1, 8, 6, 2, 2)
    torch.testing.assert_close(block.filter(y, None), y)


def test_wrong_clip_length_names_both_and_key():
    block = DTFBlock(16, 4, frames_key='model.backbone.clip_len')
    with pytest.raises(ValueError) as info:
        block(torch.randn(1, 16, 8, 3, 3))
    msg = str(info.value)
    assert 'T=4' in msg and 'T=8' in msg and 'model.backbone.clip_len' in msg


@pytest.mark.parametrize('kwargs,match', [
    (dict(filter_type='wavelet'), "filter_type must be one of.*'wavelet'"),
    (dict(group_factor=5), 'in_channels=16 is not divisible by group_factor=5'
     '.*dtf_cfg.group_factor'),
    (dict(kernel_size=4), 'odd positive integer kernel_size.*got 4'),
    (dict(backend='triton'), "backend must be one of.*'triton'"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DTFBlock(16, 4, **kwargs)


@pytest.mark.parametrize('filter_type,option,value', [
    ('static', 'use_corr', True),
    ('static', 'group_factor', 16),
    ('conv1d', 'use_corr', False),
    ('conv1d', 'channel_mixing', True),
    ('conv1d', 'group_factor', 8),
    ('conv1d_channelwise', 'use_corr', True),
    ('conv1d_channelwise', 'channel_mixing', False),
    ('dynamic_conv1d', 'channel_mixing', True),
])
def test_option_without_effect_is_refused(filter_type, option, value):
    """An option the variant does not read raises, naming it, the variant,
    the variants that read it and the config key to remove."""
    with pytest.raises(ValueError) as info:
        DTFBlock(16, 4, filter_type=filter_type, **{option: value})
    msg = str(info.value)
    assert f'{option}={value!r} has no effect with filter_type=' \
        f'{filter_type!r}' in msg
    assert f'`dtf_cfg.{option}`' in msg
    assert "'dynamic'" in msg  # a variant that reads it


def test_variant_defaults():
    """Unset options take the variant's defaults."""
    dtf = DTFBlock(32, 4)
    # no mixing, a scale-free estimator input (docs/reports/channel_mixing.md)
    assert dtf.use_corr and dtf.filter.mixing is None
    assert dtf.filter.estimator_input.norm == 'rms'
    assert dtf.filter.group_factor == 16
    assert DTFBlock(32, 4, filter_type='static').filter.mixing is None
    # the mixing, when on, has no norm unless one is asked for
    assert DTFBlock(32, 4, channel_mixing=True).filter.mixing.norm is None
    plus = DTFBlock(32, 4, filter_type='dynamic_conv1d')
    assert plus.use_corr and plus.filter.group_factor == 16
    assert plus.filter.estimator.out_channels == 2 * 3  # C/G kernels of 3
    # (C + k*k) * T inputs: the input of DTF's estimator
    assert plus.filter.estimator.in_channels == (32 + 9) * 4
    assert not DTFBlock(32, 4, filter_type='conv1d').use_corr
    # DTF_1d: all channels (C x C x 3), the channel-wise one C x 1 x 3
    assert DTFBlock(32, 4, filter_type='conv1d').filter.conv.weight.shape \
        == (32, 32, 3, 1, 1)
    assert DTFBlock(32, 4, filter_type='conv1d_channelwise').filter.conv \
        .weight.shape == (32, 1, 3, 1, 1)


@pytest.mark.parametrize('variant', ['mmdtf', 'paper', 'authors'])
def test_named_blocks(variant):
    """``variant`` builds the named block of spec section 2b; a fresh one is
    the identity."""
    torch.manual_seed(0)
    block = DTFBlock(32, 4, variant=variant)
    f = block.filter
    mixing = f.mixing
    if variant == 'authors':
        # estimator without bias, fed the raw feature; the authors'
        # expansion and correlation; the mixing with a shared-statistics
        # norm from randn * 0.02
        assert f.estimator.bias is None
        assert f.estimator_input.norm == 'none'
        assert f.filter_sharing == 'flat_repeat'
        assert block.corr_alignment == 'previous'
        assert mixing.norm_type == 'batch_shared' and mixing.init == 'random'
        assert f.estimator.out_channels == 2 * 3 * 32 // 16
        # Kaiming normal, fan-out (ReLU gain): std sqrt(2 / out_channels)
        std = f.estimator.weight.std().item()
        assert abs(std / (2 / f.estimator.out_channels)**0.5 - 1) < 0.05
    else:
        assert f.estimator.bias is not None and mixing is None
        assert f.filter_sharing == 'groups'
        assert block.corr_alignment == 'next'
        assert f.estimator_input.norm == ('rms' if variant == 'mmdtf'
                                          else 'none')
    assert f"variant='{variant}'" in repr(block)
    block.init_weights()
    x = torch.randn(2, 32, 4, 3, 3)
    assert torch.equal(block(x), x)


def test_no_variant_is_the_mmdtf_block_with_free_options():
    plain, named = DTFBlock(32, 4), DTFBlock(32, 4, variant='mmdtf')
    assert [(k, v.shape) for k, v in plain.state_dict().items()] == \
        [(k, v.shape) for k, v in named.state_dict().items()]
    assert plain.filter.estimator_input.norm == 'rms'
    # an ablation: the authors' expansion alone
    block = DTFBlock(32, 4, filter_sharing='flat_repeat')
    assert block.filter.filter_sharing == 'flat_repeat'
    assert block.filter.estimator_input.norm == 'rms'


@pytest.mark.parametrize('variant,option,value', [
    ('authors', 'channel_mixing', False),
    ('authors', 'estimator_norm', 'rms'),
    ('paper', 'estimator_norm', 'rms'),
    ('mmdtf', 'corr_alignment', 'previous'),
    ('paper', 'estimator_bias', False),
])
def test_option_contradicting_the_variant_is_refused(variant, option, value):
    """A named block's option set to another value raises, naming both and
    the two ways out; the same value is accepted."""
    with pytest.raises(ValueError) as info:
        DTFBlock(32, 4, variant=variant, **{option: value})
    msg = str(info.value)
    assert f'variant={variant!r}' in msg and f'`dtf_cfg.{option}`' in msg
    assert repr(value) in msg and '`dtf_cfg.variant=None`' in msg
    fixed = DTFBlock(32, 4, variant=variant).state_dict()
    same = dict(authors=dict(channel_mixing=dict(norm='batch_shared',
                                                 init='random'),
                             estimator_norm='none'),
                paper=dict(estimator_norm='none', estimator_bias=True),
                mmdtf=dict(corr_alignment='next'))[variant]
    assert DTFBlock(32, 4, variant=variant, **{
        option: same[option]}).state_dict().keys() == fixed.keys()


@pytest.mark.parametrize('kwargs,match', [
    (dict(variant='reference'), r"variant must be one of \('mmdtf', "
     r"'paper', 'authors'\) or None, got 'reference'.*dtf_cfg.variant"),
    (dict(filter_sharing='interleave'), r"filter_sharing must be one of "
     r"\('groups', 'flat_repeat'\), got 'interleave'.*dtf_cfg."
     'filter_sharing'),
    (dict(estimator_init='xavier'), "estimator_init must be one of.*"
     "'xavier'.*dtf_cfg.estimator_init"),
    (dict(corr_alignment='both'), "corr_alignment must be one of.*'both'"
     ".*dtf_cfg.corr_alignment"),
    (dict(variant='authors', group_factor=7), r"repeats each estimated "
     r"value group_factor=7 times over the 2 \* 3 bins \* 16 channels = "
     r"96 filter values.*dtf_cfg.group_factor"),
])
def test_bad_variant_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DTFBlock(16, 4, **kwargs)


def test_authors_expansion_needs_only_the_values_divisible():
    """The authors' expansion divides 2 * M * C values, not the channels: 8
    channels with G = 16 work (a value then spans channels)."""
    block = DTFBlock(8, 4, variant='authors', group_factor=16)
    assert block.filter.estimator.out_channels == 3
    with pytest.raises(ValueError, match='in_channels=8 is not divisible'):
        DTFBlock(8, 4, variant='paper', group_factor=16)


def test_wrong_channels():
    with pytest.raises(ValueError, match=r'C=16.*\(1, 8, 4, 3, 3\)'):
        DTFBlock(16, 4)(torch.randn(1, 8, 4, 3, 3))


def test_sync_bn_convertible():
    block = DTFBlock(16, 4, channel_mixing=dict(norm='batch'))
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(block)
    assert isinstance(converted.filter.mixing.norm, torch.nn.SyncBatchNorm)


# ---- spectral_impl='matmul': the DFT over time as matrix products ----------


@pytest.mark.parametrize('t', range(1, 17))
def test_matmul_dft_equals_fft(t):
    """rdft/irdft against torch.fft in float64, odd and even lengths."""
    from mmdtf.models.blocks.spectral_transforms import (
        irdft_time, irfft_time, rdft_time, rfft_time)
    torch.manual_seed(t)
    y = torch.randn(2, 3, t, 4, 5, dtype=torch.float64)
    for got, expected in zip(rdft_time(y), rfft_time(y)):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # A random spectrum is not Hermitian: irfft ignores the imaginary parts
    # of the DC bin and (even T) of the Nyquist bin; so must irdft.
    m = t // 2 + 1
    spec = (torch.randn(2, 3, m, 4, 5, dtype=torch.float64),
            torch.randn(2, 3, m, 4, 5, dtype=torch.float64))
    torch.testing.assert_close(irdft_time(spec, t, torch.float64),
                               irfft_time(spec, t, torch.float64),
                               rtol=0, atol=1e-12)
    # And the round trip is the identity.
    torch.testing.assert_close(
        irdft_time(rdft_time(y), t, torch.float64), y, rtol=0, atol=1e-12)


def test_dft_matrices_by_hand():
    """T = 4, ortho: entries are 0, +-1/2 (and +-1 weighted twice)."""
    from mmdtf.models.blocks.spectral_transforms import dft_matrices
    real, imag = dft_matrices(4, False, torch.float64, torch.device('cpu'))
    # m = 0, 1, 2 against t = 0..3: cos(pi m t / 2) / 2, -sin(...) / 2
    torch.testing.assert_close(real, torch.tensor(
        [[1., 1., 1., 1.], [1., 0., -1., 0.], [1., -1., 1., -1.]],
        dtype=torch.float64) / 2, rtol=0, atol=1e-16)
    torch.testing.assert_close(imag, torch.tensor(
        [[0., 0., 0., 0.], [0., -1., 0., 1.], [0., 0., 0., 0.]],
        dtype=torch.float64) / 2, rtol=0, atol=1e-16)
    inv_real, inv_imag = dft_matrices(4, True, torch.float64,
                                      torch.device('cpu'))
    # DC and Nyquist weigh 1, bin 1 weighs 2; their imaginary parts drop.
    torch.testing.assert_close(inv_real, torch.tensor(
        [[1., 2., 1.], [1., 0., -1.], [1., -2., 1.], [1., 0., -1.]],
        dtype=torch.float64) / 2, rtol=0, atol=1e-16)
    torch.testing.assert_close(inv_imag, torch.tensor(
        [[0., 0., 0.], [0., -2., 0.], [0., 0., 0.], [0., 2., 0.]],
        dtype=torch.float64) / 2, rtol=0, atol=1e-16)


@pytest.mark.parametrize('variant', ['DTF', 'DTF_F', 'no channel mixing'])
def test_block_matmul_equals_fft(variant):
    """The same weights give the same output and gradients either way."""
    torch.manual_seed(0)
    fft = DTFBlock(32, 5, spectral_impl='fft', **VARIANTS[variant]).double()
    matmul = DTFBlock(32, 5, spectral_impl='matmul',
                      **VARIANTS[variant]).double()
    with torch.no_grad():
        fft.gamma.normal_()
        fft.beta.normal_()
    matmul.load_state_dict(fft.state_dict())
    x = torch.randn(2, 32, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    out = fft(x)
    out2 = matmul(x2)
    assert not torch.allclose(out, x)
    torch.testing.assert_close(out2, out, rtol=0, atol=1e-12)
    out.square().sum().backward()
    out2.square().sum().backward()
    torch.testing.assert_close(x2.grad, x.grad, rtol=0, atol=1e-10)
    for (name, p), p2 in zip(fft.named_parameters(), matmul.parameters()):
        torch.testing.assert_close(p2.grad, p.grad, rtol=0, atol=1e-9,
                                   msg=name)


@pytest.mark.parametrize('spectral_impl', ['matmul', 'fft'])
@pytest.mark.parametrize('training', [True, False])
def test_block_any_memory_layout(spectral_impl, training):
    """ResNetDTF passes views of frames-outermost (N, T, C, H, W) memory,
    SwinDTF views of channels-last tokens: every layout gives the output and
    gradients of a contiguous input, and the frames-outermost one keeps its
    layout (ResNetDTF's reshape back to frames is then a view)."""
    torch.manual_seed(0)
    block = DTFBlock(32, 4, spectral_impl=spectral_impl,
                     channel_mixing=dict(norm='batch')).double()
    block.train(training)
    with torch.no_grad():
        block.gamma.normal_()
        block.beta.normal_()
        block.filter.mixing.weight_imag.normal_(std=0.1)
        block.filter.mixing.norm.running_mean.normal_()
        block.filter.mixing.norm.running_var.uniform_(0.5, 2)
    state = copy.deepcopy(block.state_dict())
    base = torch.randn(2, 32, 4, 5, 6, dtype=torch.float64)
    layouts = {
        'contiguous': base,
        'frames outermost': base.transpose(1, 2).contiguous().transpose(1, 2),
        'channels last': base.permute(0, 2, 3, 4, 1).contiguous().permute(
            0, 4, 1, 2, 3),
    }
    results = {}
    for name, x in layouts.items():
        block.load_state_dict(state)  # the same running statistics
        x = x.detach().requires_grad_()
        out = block(x)
        out.square().sum().backward()
        results[name] = (out, x.grad, block.filter.mixing.weight_real.grad,
                         block.filter.mixing.norm.running_mean.clone())
        block.zero_grad()
        if name == 'frames outermost':
            assert out.transpose(1, 2).is_contiguous()
    expected = results.pop('contiguous')
    for name, got in results.items():
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-11, msg=name)


def test_matmul_dft_half_input_gives_float32_spectrum():
    from mmdtf.models.blocks.spectral_transforms import rdft_time, rfft_time
    y = torch.randn(1, 4, 4, 2, 3).half()
    got, expected = rdft_time(y), rfft_time(y)
    assert got[0].dtype == expected[0].dtype == torch.float32
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=1e-6)


def test_set_spectral_impl_and_config_key():
    from mmdtf.models.blocks import set_spectral_impl
    backbone = MODELS.build(dict(
        type='ResNetDTF', depth=18, clip_len=8, pretrained=None,
        dtf_stages=(False, False, True, True),
        dtf_cfg=dict(spectral_impl='matmul')))
    impls = {m.filter.spectral_impl for m in backbone.modules()
             if isinstance(m, DTFBlock)}
    assert impls == {'matmul'}
    assert set_spectral_impl(backbone, 'fft') == 4  # 2 + 2 basic blocks
    assert {m.filter.spectral_impl for m in backbone.modules()
            if isinstance(m, DTFBlock)} == {'fft'}
    assert "spectral_impl='fft'" in repr(backbone.layer4[0])
    with pytest.raises(ValueError, match=r"spectral_impl must be one of "
                       r"\('fft', 'matmul'\), got 'dct'.*dtf_cfg."
                       r'spectral_impl'):
        set_spectral_impl(backbone, 'dct')


def test_bad_spectral_impl():
    with pytest.raises(ValueError, match=r"spectral_impl must be one of.*got "
                       r"'cufft' \(config key `dtf_cfg.spectral_impl`\)"):
        DTFBlock(16, 4, spectral_impl='cufft')
