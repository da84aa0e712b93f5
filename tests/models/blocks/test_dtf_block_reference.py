"""The DTF block against its naive reference (tests/naive_dtf_block.py):
every variant of the paper's table 1a/1b, with and without the channel
mixing, values and gradients (input and parameters) and the mixing norm's
running statistics, in training and eval mode, on the memory layouts the two
backbones pass; then bfloat16/float16 against the float64 reference.

All weights are random (the block starts as the identity, and the mixing as
the identity matrix: a test at init would not see the filter at all), and
the eval-mode running statistics are not (0, 1).
"""
import math

import pytest
import torch

from mmdtf.models import DTFBlock
from naive_dtf_block import naive_dtf_block  # tests/ is on sys.path

CHANNELS, GROUP_FACTOR = 8, 4


#: the channel mixing: off, and on with each of its norms
MIXINGS = {'nomix': False, 'mix': True,  # True: the defaults (no norm)
           'mixnonorm': dict(norm='none'),
           'mixbn': dict(norm='batch'),
           'mixbnshared': dict(norm='batch_shared')}


def _cases():
    """(id, DTFBlock kwargs): each filter with every option it reads (every
    mixing with FA and the correlation on; off and the batch norm else)."""
    cases = []
    for agg in (True, False):
        a = 'fa' if agg else 'nofa'
        for corr in (True, False):
            c = 'corr' if corr else 'nocorr'
            mixes = MIXINGS if agg and corr else ('nomix', 'mixbn')
            for m in mixes:
                cases.append((f'dynamic-{a}-{c}-{m}', dict(
                    filter_type='dynamic', aggregate=agg, use_corr=corr,
                    channel_mixing=MIXINGS[m], group_factor=GROUP_FACTOR)))
            cases.append((f'dynamic_conv1d-{a}-{c}', dict(
                filter_type='dynamic_conv1d', aggregate=agg, use_corr=corr,
                group_factor=GROUP_FACTOR)))
            if agg:  # the estimator fed the raw feature, as the reference
                for dyn in ('dynamic', 'dynamic_conv1d'):
                    cases.append((f'{dyn}-{a}-{c}-rawestimator', dict(
                        filter_type=dyn, aggregate=agg, use_corr=corr,
                        group_factor=GROUP_FACTOR, estimator_norm='none')))
        for m in MIXINGS if agg else ('nomix', 'mixbn'):
            cases.append((f'static-{a}-{m}', dict(
                filter_type='static', aggregate=agg,
                channel_mixing=MIXINGS[m])))
        for conv in ('conv1d', 'conv1d_channelwise'):
            cases.append((f'{conv}-{a}', dict(filter_type=conv,
                                               aggregate=agg)))
    # the named blocks (spec section 2b), G = 16 too for the authors' (their
    # expansion then repeats one value across two or three channels)
    for variant in ('mmdtf', 'paper', 'authors'):
        cases.append((f'variant-{variant}', dict(
            variant=variant, filter_type='dynamic',
            group_factor=GROUP_FACTOR)))
    cases.append(('variant-authors-G16', dict(
        variant='authors', filter_type='dynamic', group_factor=16)))
    cases.append(('variant-authors-nofa', dict(
        variant='authors', filter_type='dynamic', group_factor=GROUP_FACTOR,
        aggregate=False)))
    cases.append(('variant-authors-static', dict(variant='authors',
                                                 filter_type='static')))
    # the authors' choices one at a time (ablations: no variant)
    for key, value in (('estimator_bias', False),
                       ('filter_sharing', 'flat_repeat'),
                       ('corr_alignment', 'previous')):
        cases.append((f'dynamic-fa-corr-{key}', dict(
            filter_type='dynamic', group_factor=GROUP_FACTOR, **{key: value})))
    cases.append(('dynamic_conv1d-fa-corr-corr_alignment', dict(
        filter_type='dynamic_conv1d', group_factor=GROUP_FACTOR,
        corr_alignment='previous')))
    return dict(cases)


CASES = _cases()
# (frames per clip, how the backbone lays out the block's input): T even
# (a Nyquist bin) and odd
LAYOUTS = {'resnet_frames_T4': 4, 'swin_tokens_T5': 5}


def backbone_input(layout, n=2, h=3, w=4, dtype=torch.float64, seed=0):
    """A (N, C, T, H, W) view of the memory the backbone stores: ResNetDTF's
    (N*T, C, H, W) frame batch, SwinDTF's (N, T, H, W, C) tokens."""
    t = LAYOUTS[layout]
    gen = torch.Generator().manual_seed(seed)
    # a scale per location (0.1 to 10): the estimator's normalisation
    # must be per location, not one for the clip
    scale = 10**torch.empty(n, 1, 1, h, w, dtype=torch.float64).uniform_(
        -1, 1, generator=gen)
    if layout.startswith('resnet'):
        frames = torch.randn(n * t, CHANNELS, h, w, generator=gen,
                             dtype=torch.float64)
        frames = frames.view(n, t, CHANNELS, h, w) * scale.transpose(1, 2)
        return frames.to(dtype).transpose(1, 2)
    tokens = torch.randn(n, t, h, w, CHANNELS, generator=gen,
                         dtype=torch.float64)
    tokens = tokens * scale.permute(0, 2, 3, 4, 1)
    return tokens.to(dtype).permute(0, 4, 1, 2, 3)


def random_block(kwargs, num_frames, seed=0):
    """A float64 DTFBlock with every parameter and running statistic
    random."""
    torch.manual_seed(seed)
    block = DTFBlock(CHANNELS, num_frames, **kwargs).double()
    with torch.no_grad():
        for name, param in block.named_parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 1
            param.normal_(std=1 / math.sqrt(fan_in))
        for name, buf in block.named_buffers():
            if name.endswith('running_mean'):
                buf.normal_(std=0.5)
            elif name.endswith('running_var'):
                buf.uniform_(0.5, 2.)
    return block


def reference_params(block, dtype=torch.float64):
    """The block's state, rounded to ``dtype``, as float64 leaves (the
    parameters require grad)."""
    params = {}
    for name, value in block.state_dict().items():
        value = value.detach().to(dtype).to(torch.float64).clone()
        params[name] = value
    for name, _ in block.named_parameters():
        params[name].requires_grad_()
    return params


def reference_kwargs(kwargs):
    """The block's options as the reference takes them (its defaults for the
    options a filter does not read)."""
    return {key: value for key, value in kwargs.items() if key in (
        'filter_type', 'aggregate', 'use_corr', 'channel_mixing',
        'group_factor', 'estimator_norm', 'estimator_bias', 'filter_sharing',
        'corr_alignment', 'variant')}


def run_block(block, x, grad):
    x = x.detach().requires_grad_()
    out = block(x)
    out.backward(grad)
    return out, x.grad, {name: p.grad for name, p in block.named_parameters()}


def run_reference(block, kwargs, x, grad, training, dtype=torch.float64):
    params = reference_params(block, dtype)
    x = x.detach().to(torch.float64).requires_grad_()
    out, stats = naive_dtf_block(x, params, training=training,
                                 **reference_kwargs(kwargs))
    out.backward(grad.to(torch.float64))
    grads = {name: params[name].grad for name, _ in block.named_parameters()}
    return out, x.grad, grads, stats


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('case', CASES)
def test_block_equals_naive_reference_float64(case, training, layout):
    """Output, input gradient, every parameter's gradient and the norm's
    running statistics equal the reference's."""
    kwargs = CASES[case]
    block = random_block(kwargs, LAYOUTS[layout]).train(training)
    x = backbone_input(layout)
    grad = torch.randn(x.shape, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    ref_out, ref_gx, ref_grads, ref_stats = run_reference(
        block, kwargs, x, grad, training)
    out, gx, grads = run_block(block, x, grad)
    tol = dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out, ref_out, **tol, msg='output')
    assert (out - x).abs().max() > 0.1  # the filter is really on
    torch.testing.assert_close(gx, ref_gx, **tol, msg='input gradient')
    assert set(grads) == set(ref_grads)
    for name, ref_grad in ref_grads.items():
        assert ref_grad.abs().max() > 0, name  # every parameter is tested
        torch.testing.assert_close(grads[name], ref_grad, **tol, msg=name)
    if ref_stats is not None:
        norm = block.filter.mixing.norm
        torch.testing.assert_close(norm.running_mean, ref_stats[0], **tol,
                                   msg='running_mean')
        torch.testing.assert_close(norm.running_var, ref_stats[1], **tol,
                                   msg='running_var')


# ---- low precision: the block in bfloat16 / float16 against the float64
# reference evaluated on the same (rounded) input and weights.

#: unit roundoff (half an ulp at 1) of each dtype
UNIT_ROUNDOFF = {torch.bfloat16: 2.**-8, torch.float16: 2.**-11}
#: how many roundoffs of the terms' magnitude the output may be off: the
#: block rounds FA's outputs, the filter estimate, the filtered feature (and
#: DTF_1d+ each of its taps) to the dtype, and the output once more; the
#: worst seen is 7.4 (DTF_1d+, bfloat16)
OUTPUT_ROUNDOFFS = 12
#: and the gradients, in roundoffs of their largest magnitude (worst seen 2.6)
GRAD_ROUNDOFFS = 6
LOW_PRECISION_CASES = ['dynamic-fa-corr-mix', 'dynamic-fa-corr-mixbn',
                       'dynamic-fa-corr-nomix', 'static-fa-mixbnshared',
                       'conv1d-fa', 'conv1d_channelwise-fa',
                       'dynamic_conv1d-fa-corr']


def assert_within_roundoffs(got, expected, scale, dtype, roundoffs, what):
    """``|got - expected| <= roundoffs * u * scale`` elementwise."""
    bound = roundoffs * UNIT_ROUNDOFF[dtype] * scale
    err = (got.double() - expected).abs()
    worst = (err / bound).max().item()
    assert worst <= 1, (f'{what}: error up to {worst:.2f} x the bound of '
                        f'{roundoffs} roundoffs of {dtype}')


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bfloat16', 'float16'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('case', LOW_PRECISION_CASES)
def test_low_precision_block_against_float64_reference(case, training,
                                                       dtype):
    """Output within a few roundoffs of the magnitude of its terms
    (``|x| + |gamma * f'| + |beta|``, elementwise); gradients within a few
    roundoffs of their largest magnitude."""
    kwargs = CASES[case]
    layout = 'resnet_frames_T4'
    block = random_block(kwargs, LAYOUTS[layout]).to(dtype).train(training)
    x = backbone_input(layout, dtype=dtype)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1),
                       dtype=torch.float64).to(dtype)
    ref_out, ref_gx, ref_grads, _ = run_reference(block, kwargs, x, grad,
                                                  training, dtype)
    out, gx, grads = run_block(block, x, grad)
    assert out.dtype == gx.dtype == dtype
    params = reference_params(block, dtype)
    filtered = (ref_out.detach() - x.double() - params['beta']) / params[
        'gamma']
    scale = (x.double().abs() + (params['gamma'] * filtered).abs()
             + params['beta'].abs()).detach()
    assert_within_roundoffs(out, ref_out.detach(), scale, dtype,
                            OUTPUT_ROUNDOFFS, 'output')
    assert_within_roundoffs(gx, ref_gx, ref_gx.abs().max(), dtype,
                            GRAD_ROUNDOFFS, 'input gradient')
    for name, ref_grad in ref_grads.items():
        assert_within_roundoffs(grads[name], ref_grad, ref_grad.abs().max(),
                                dtype, GRAD_ROUNDOFFS, name)
