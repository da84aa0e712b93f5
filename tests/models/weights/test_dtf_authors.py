"""The authors' DTF code (FuchenUSTC/DTF) against mmdtf's 'authors' block.

The numbers under tests/fixtures/dtf_authors/ were produced by the authors'
own ``DTFBlock``, DTF-Net R50 and a small DTF-Transformer, run out of tree
on CPU with their two CuPy ops emulated (docs/models/dtf_blocks.md says
how). Here
their state dicts go through the converter into ``DTFBlock(variant=
'authors')``, ``ResNetDTF`` and ``SwinDTF``, loaded strictly, and must give
their outputs and input gradients up to rounding.
"""
import torch
import pytest
from mmaction.registry import MODELS

from dtf_authors_fixture import (load_fixture, seeded_input,  # tests/
                                 seeded_state_dict)
from mmdtf.models import DTFBlock
from mmdtf.models.weights.dtf_authors import (AuthorsCheckpointError,
                                              convert_dtf_authors,
                                              convert_dtf_block)

UNIT_ROUNDOFF = {torch.float32: 2.**-24, torch.float64: 2.**-53}


def block_roundoffs(channels, frames, n, h, w, kernel=3):
    """How many roundoffs of the block's update ``|gamma f' + beta|`` the
    two codes may differ by: both evaluate the same expression, reassociated
    (FFT against DFT products, complex against real arithmetic, another
    batch-norm reduction order), so each stage's reductions may differ by up
    to their length in roundoffs (the worst-case bound, first order), and
    the stages add up: FA's correlation (C terms) and weighted sum (k*k),
    the estimator ((C + k*k) * T), the DFT (T), the mixing (C), the norm's
    statistics (N * M * H * 2W values) and the inverse DFT (M)."""
    bins = frames // 2 + 1
    return (channels + kernel**2 + (channels + kernel**2) * frames + frames
            + channels + n * bins * h * 2 * w + bins)


def assert_within(got, expected, scale, roundoffs, dtype, what):
    """``|got - expected| <= 2 * roundoffs * u * scale + 2 * u * |expected|``
    (both sides err; the last term: the output's own rounding)."""
    u = UNIT_ROUNDOFF[dtype]
    bound = 2 * roundoffs * u * scale + 2 * u * expected.abs()
    err = (got - expected).abs()
    worst = float((err / bound).max())
    assert worst <= 1, f'{what}: {worst:.3g} x the bound'


BLOCK_RUNS = ['C8_T4_float32', 'C8_T4_float64', 'C16_T5_float32']


@pytest.mark.parametrize('mode', ['eval', 'train'])
@pytest.mark.parametrize('run', BLOCK_RUNS)
def test_block_matches_the_authors_block(run, mode):
    """Output, input gradient and (training) the norm's running statistics
    of their DTFBlock, through the converter into ours."""
    record = load_fixture('dtf_block.pt')['runs'][run]
    state = record['state_dict']
    x, grad = record['input'], record['grad_output']
    dtype = x.dtype
    n, channels, frames, h, w = x.shape
    block = DTFBlock(channels, frames, variant='authors',
                     backend='torch').to(dtype)
    block.load_state_dict(convert_dtf_block(state))  # strict
    block.train(mode == 'train')
    x = x.clone().requires_grad_()
    out = block(x)
    out.backward(grad)
    expected = record[mode]
    roundoffs = block_roundoffs(channels, frames, n, h, w)
    update = (expected['output'] - x.detach()).abs().max()
    assert update > 0.5  # their block is far from the identity here
    assert_within(out.detach(), expected['output'], update, roundoffs, dtype,
                  'output')
    grad_update = (expected['grad_input'] - grad).abs().max()
    assert grad_update > 0.5
    assert_within(x.grad, expected['grad_input'], grad_update, roundoffs,
                  dtype, 'input gradient')
    if mode == 'train':
        norm = block.filter.mixing.norm
        for stat in ('running_mean', 'running_var'):
            assert_within(getattr(norm, stat), expected[stat],
                          expected[stat].abs().max(), roundoffs, dtype, stat)


def test_block_fixture_needs_every_authors_detail():
    """The fixture tells the authors' block from the others: each of its
    options set back to mmdtf's changes the output far beyond rounding."""
    record = load_fixture('dtf_block.pt')['runs']['C8_T4_float64']
    converted = convert_dtf_block(record['state_dict'])
    x = record['input']
    expected = record['eval']['output']
    changes = dict(corr_alignment='next', estimator_norm='rms',
                   filter_sharing='groups')
    for key, value in changes.items():
        options = dict(estimator_norm='none', estimator_bias=False,
                       filter_sharing='flat_repeat',
                       corr_alignment='previous',
                       channel_mixing=dict(norm='batch_shared',
                                           init='random'), group_factor=16)
        options[key] = value
        if value == 'groups':
            options['group_factor'] = 4  # 8 channels: G must divide them
            state = dict(converted)
            weight = state['filter.estimator.weight']
            # same values, regrouped: 2 * 2 groups * 3 bins outputs
            state['filter.estimator.weight'] = weight.repeat(4, 1, 1, 1)
        else:
            state = converted
        block = DTFBlock(8, 4, backend='torch', **options).double().eval()
        block.load_state_dict(state)
        with torch.no_grad():
            assert (block(x) - expected).abs().max() > 1e-3, key


def _recognizer(backbone, in_channels):
    return MODELS.build(dict(
        type='Recognizer3D', backbone=backbone,
        cls_head=dict(type='I3DHead', num_classes=5, in_channels=in_channels,
                      dropout_ratio=0.),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW'))).double()


NETWORKS = {
    # fixture -> (our backbone's other keys, head input channels, hints)
    'dtf_net_r50': (dict(pretrained=None), 2048, dict(
        type='ResNetDTF', depth=50, temporal_stride=4, clip_len=16,
        dtf_cfg=dict(variant='authors', kernel_size=3, group_factor=16))),
    'dtf_transformer_small': (
        dict(pretrained=None, img_size=64, drop_path_rate=0.), 128,
        dict(type='SwinDTF', arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                                       num_heads=[1, 2, 4, 8]),
             patch_size=4, window_size=2, temporal_stride=4, clip_len=16,
             patch_norm=False,
             dtf_cfg=dict(variant='authors', kernel_size=3,
                          group_factor=16))),
}


@pytest.mark.parametrize('name', NETWORKS)
def test_network_matches_the_authors_network(name):
    """Their whole network's state dict (their key list, seeded values)
    converts, loads strictly, and gives their logits in eval and training
    mode (float64)."""
    record = load_fixture(f'{name}.pt')
    theirs = seeded_state_dict(record['keys'], record['buffers'],
                               record['seed'])
    converted, hints = convert_dtf_authors(dict(state_dict={
        f'module.{k}': v for k, v in theirs.items()}))
    extra, in_channels, expected_hints = NETWORKS[name]
    assert hints == expected_hints
    model = _recognizer(dict(hints, **extra), in_channels)
    own = model.state_dict()
    for key in [k for k in own if k.endswith('relative_position_index')]:
        assert torch.equal(converted[key], own[key]), key
    model.load_state_dict(converted)  # strict
    x = seeded_input(tuple(record['input_shape']), record['input_seed'])
    logits = {}
    with torch.no_grad():
        for mode in ('eval', 'train'):
            model.load_state_dict(converted)
            model.train(mode == 'train')
            logits[mode] = model.cls_head(model.backbone(x))
            expected = record[f'logits_{mode}']
            # float64: ~1e5 roundoffs (the reduction lengths of the ~60
            # layers on the longest path) times 100 for the growth of the
            # activations through the network, relative to the logits
            tol = 1e7 * UNIT_ROUNDOFF[torch.float64] * expected.abs().max()
            torch.testing.assert_close(logits[mode], expected, rtol=0,
                                       atol=float(tol), msg=mode)
    # and their DTF blocks matter to those logits
    with torch.no_grad():
        model.load_state_dict(converted)
        model.eval()
        for module in model.modules():
            if isinstance(module, DTFBlock):
                module.reset_to_identity()
        assert (model.cls_head(model.backbone(x))
                - logits['eval']).abs().max() > 0.05


def _authors_block_state(channels=16, frames=4):
    return {
        'filter_g.weight': torch.randn(2 * 3 * channels // 16,
                                       (channels + 9) * frames, 1, 1),
        'linear1.complex_weight': torch.randn(channels, channels, 2),
        'norm1.norm.running_mean': torch.zeros(channels),
        'norm1.norm.running_var': torch.ones(channels),
        'norm1.norm.num_batches_tracked': torch.tensor(3),
        'alpha1': torch.randn(1, channels, 1, 1, 1),
        'bias': torch.randn(1, channels, 1, 1, 1),
        'weights_cor': torch.full((channels, frames, 3, 3), 1. / channels),
    }


def test_block_conversion_by_name():
    state = _authors_block_state()
    converted = convert_dtf_block(state)
    assert torch.equal(converted['gamma'], state['alpha1'])
    assert torch.equal(converted['beta'], state['bias'])
    assert torch.equal(converted['filter.mixing.weight_real'],
                       state['linear1.complex_weight'][..., 0])
    assert torch.equal(converted['filter.mixing.weight_imag'],
                       state['linear1.complex_weight'][..., 1])
    assert 'weights_cor' not in converted
    DTFBlock(16, 4, variant='authors').load_state_dict(converted)


@pytest.mark.parametrize('change,match', [
    (lambda s: s.update(weights_cor=s['weights_cor'] * 2),
     r'weights_cor is not the constant 1/C = 0\.0625'),
    (lambda s: s.update({'linear1.complex_bias': torch.zeros(1)}),
     r"unexpected keys \['linear1.complex_bias'\]"),
    (lambda s: s.pop('alpha1'), r"missing \['alpha1'\]"),
])
def test_block_conversion_refuses(change, match):
    state = _authors_block_state()
    change(state)
    with pytest.raises(AuthorsCheckpointError, match=match):
        convert_dtf_block(state, 'layer1.0.dtf_blk')


@pytest.mark.parametrize('keys,match', [
    ({'layer1.0.conv1_blk.alpha1': torch.zeros(1)},
     'two DTF blocks per residual block'),
    ({'layer1.0.conv1.weight': torch.zeros(1), 'conv2.weight': torch.zeros(1)},
     'deep stem'),
    ({'layer1.0.conv1.weight': torch.zeros(4, 4, 1, 1, 1)},
     'no DTF blocks.*model.backbone.pretrained'),
    ({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(1)},
     'no DTF blocks.*model.backbone.pretrained'),
    ({'backbone.conv1.conv.weight': torch.zeros(1)},
     r"not a checkpoint of the authors' DTF-Net.*backbone\.conv1"),
])
def test_network_conversion_refuses(keys, match):
    with pytest.raises(AuthorsCheckpointError, match=match):
        convert_dtf_authors(keys)


def test_converter_cli(tmp_path, capsys):
    """One command: their checkpoint in, an mmdtf checkpoint and the config
    keys out; MMEngine loads it into the model those keys build."""
    import helpers  # tests/helpers.py
    from mmengine.runner.checkpoint import load_checkpoint
    tool = helpers.load_tool('model_converters/convert_dtf_authors')
    record = load_fixture('dtf_transformer_small.pt')
    theirs = seeded_state_dict(record['keys'], record['buffers'],
                               record['seed'], torch.float32)
    src, dst = tmp_path / 'theirs.pth', tmp_path / 'ours.pth'
    torch.save(dict(state_dict=theirs, epoch=64), src)
    tool.main([str(src), str(dst)])
    out = capsys.readouterr().out
    assert "'variant': 'authors'" in out and 'patch_norm' in out
    assert 'num_classes=5' in out
    saved = torch.load(dst, weights_only=True)
    extra, in_channels, _ = NETWORKS['dtf_transformer_small']
    model = _recognizer(dict(saved['meta']['model_backbone'], **extra),
                        in_channels).float()
    load_checkpoint(model, str(dst), strict=True)
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'missing.pth'), str(dst)])
    assert 'no such file' in capsys.readouterr().err
