"""ResNetDTF: shapes, DTF placement, ImageNet inflation from a torchvision-
checkpoint of every key format made here, clip-length errors."""
import warnings

import pytest
import torch
from mmaction.models.backbones import ResNet
from mmaction.registry import MODELS

from mmdtf.models import DTFBlock, ResNetDTF

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)
from helpers import key_format_files, torchvision_state_dict


@pytest.mark.parametrize('depth,channels', [(18, 512), (34, 512), (50, 2048)])
def test_output_shape(depth, channels):
    model = ResNetDTF(depth, clip_len=8, temporal_stride=4,
                      dtf_cfg=dict(group_factor=8))
    model.init_weights()
    out = model(torch.randn(2, 3, 8, 64, 64))
    assert out.shape == (2, channels, 2, 2, 2)


@pytest.mark.parametrize('depth,blocks', [(50, 16), (101, 33), (152, 50)])
def test_dtf_in_every_block_by_default(depth, blocks):
    model = ResNetDTF(depth, clip_len=16)
    dtfs = [m for m in model.modules() if isinstance(m, DTFBlock)]
    assert len(dtfs) == blocks
    assert all(m.num_frames == 4 for m in dtfs)
    # after the 3x3 conv of each bottleneck, before its BN
    assert isinstance(model.layer1[0].conv2.conv.dtf, DTFBlock)


def test_dtf_stages_and_cfg():
    model = ResNetDTF(50, clip_len=32, temporal_stride=4,
                      dtf_stages=(False, False, False, True),
                      dtf_cfg=dict(kernel_size=5, filter_type='static'))
    dtfs = [m for m in model.modules() if isinstance(m, DTFBlock)]
    assert len(dtfs) == 3
    assert {(m.num_frames, m.kernel_size, m.filter_type, m.in_channels)
            for m in dtfs} == {(8, 5, 'static', 512)}


def test_stem_is_tubelet_without_temporal_padding():
    model = ResNetDTF(18, clip_len=16, temporal_stride=4)
    conv = model.conv1.conv
    assert conv.kernel_size == (4, 7, 7) and conv.stride == (4, 2, 2)
    assert conv.padding == (0, 3, 3)
    assert model.conv1(torch.randn(1, 3, 16, 32, 32)).shape[2] == 4


@pytest.mark.parametrize('depth', [18, 50])
def test_imagenet_inflation_matches_2d_network(tmp_path, depth):
    ckpt = tmp_path / f'resnet{depth}_torchvision.pth'
    torch.save(torchvision_state_dict(depth), ckpt)

    model = MODELS.build(dict(type='ResNetDTF', depth=depth, clip_len=8,
                              temporal_stride=4, pretrained=str(ckpt)))
    model.init_weights()
    reference = ResNet(depth, pretrained=str(ckpt), torchvision_pretrain=True)
    reference.init_weights()
    # float64: equality up to rounding, not up to float32 noise of 50 layers
    model.double().eval()
    reference.double().eval()

    torch.manual_seed(1)
    frame = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    clip = frame[:, :, None].expand(-1, -1, 8, -1, -1).contiguous()
    with torch.no_grad():
        feats = model(clip)
        expected = reference(frame)
    assert feats.shape[:3] == (2, expected.shape[1], 2)
    for t in range(2):
        torch.testing.assert_close(feats[:, :, t], expected, rtol=1e-10,
                                   atol=1e-10)
    # and the stem really is the 2D kernel spread over 4 taps
    stem_2d = torch.load(ckpt)['conv1.weight']
    torch.testing.assert_close(model.conv1.conv.weight.sum(2).float(),
                               stem_2d)


def test_checkpoint_of_wrong_depth(tmp_path):
    ckpt = tmp_path / 'r18.pth'
    torch.save(torchvision_state_dict(18), ckpt)
    model = ResNetDTF(50, clip_len=8, pretrained=str(ckpt))
    with pytest.raises((KeyError, ValueError), match='r18.pth'):
        model.init_weights()


def test_not_a_torchvision_checkpoint(tmp_path):
    ckpt = tmp_path / 'other.pth'
    torch.save({'backbone.conv1.conv.weight': torch.zeros(1)}, ckpt)
    model = ResNetDTF(18, clip_len=8, pretrained=str(ckpt))
    with pytest.raises(ValueError, match='not a 2D ResNet checkpoint in '
                       'torchvision format.*model.backbone.pretrained'):
        model.init_weights()


def test_wrong_clip_length_names_both_and_key():
    model = ResNetDTF(18, clip_len=16)
    with pytest.raises(ValueError) as info:
        model(torch.randn(1, 3, 8, 32, 32))
    msg = str(info.value)
    assert 'T=16' in msg and '(1, 3, 8, 32, 32)' in msg
    assert 'model.backbone.clip_len' in msg


def test_clip_len_not_multiple_of_stride():
    with pytest.raises(ValueError, match='clip_len=10 must be a positive '
                       'multiple of temporal_stride=4'):
        ResNetDTF(18, clip_len=10, temporal_stride=4)


def test_dtf_stages_length():
    with pytest.raises(ValueError, match='dtf_stages has 3 entries for 4'):
        ResNetDTF(18, clip_len=8, dtf_stages=(True, True, True))


def test_backward_and_gradients_reach_dtf():
    """Each DTF block computes y = x + gamma * f + beta: through the whole
    backbone, gamma's gradient is sum(dL/dy * f) and beta's sum(dL/dy) over
    (N, T, H, W), with dL/dy and f recorded at the block (float64)."""
    torch.manual_seed(0)
    model = ResNetDTF(18, clip_len=8, dtf_cfg=dict(group_factor=8))
    model.init_weights()
    model.double()
    blocks = [m for m in model.modules() if isinstance(m, DTFBlock)]
    filtered, grad_y = {}, {}

    def record(i):
        def filter_hook(module, args, out):
            filtered[i] = out.detach()

        def block_hook(module, args, out):
            out.register_hook(lambda grad: grad_y.__setitem__(i, grad))
        return filter_hook, block_hook

    for i, block in enumerate(blocks):
        filter_hook, block_hook = record(i)
        block.filter.register_forward_hook(filter_hook)
        block.register_forward_hook(block_hook)
    x = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64)
    out = model(x)
    (out * torch.randn_like(out)).sum().backward()
    assert len(blocks) == 8 and len(filtered) == len(grad_y) == 8
    dims = (0, 2, 3, 4)
    for i, block in enumerate(blocks):
        expected_gamma = (grad_y[i] * filtered[i]).sum(dims, keepdim=True)
        expected_beta = grad_y[i].sum(dims, keepdim=True)
        torch.testing.assert_close(block.gamma.grad, expected_gamma,
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(block.beta.grad, expected_beta,
                                   rtol=1e-10, atol=1e-12)
        assert expected_gamma.abs().min() > 0  # every channel reached


def randomize_dtf(model):
    """Non-zero gamma/beta and mixing weights: DTF then changes the output,
    so its gradients and statistics are worth comparing."""
    gen = torch.Generator().manual_seed(5)
    for module in model.modules():
        if isinstance(module, DTFBlock):
            for param in module.parameters():
                param.data = torch.randn(param.shape, generator=gen,
                                         dtype=param.dtype) * 0.2


@pytest.mark.parametrize('depth', [18, 50])
def test_with_cp_gives_the_same_gradients_and_statistics(depth):
    """Checkpointed blocks (BasicBlock too, which MMAction2's ResNet refuses)
    give the same gradients and count batch-norm statistics once."""

    def step(with_cp):
        torch.manual_seed(0)
        # the mixing's batch norm (an option) has statistics to count
        model = ResNetDTF(depth, clip_len=8, with_cp=with_cp,
                          dtf_cfg=dict(group_factor=8,
                                       channel_mixing=dict(norm='batch')))
        model.init_weights()
        randomize_dtf(model)
        model.double().train()
        calls = []
        dtf = [m for m in model.modules() if isinstance(m, DTFBlock)][-1]
        dtf.register_forward_pre_hook(lambda *args: calls.append(1))
        clip = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(1))
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # e.g. checkpoint's use_reentrant
            (model(clip)**2).mean().backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        buffers = {n: b.clone() for n, b in model.named_buffers()
                   if 'running' in n or 'num_batches' in n}
        return grads, buffers, len(calls)

    cp_buffers = helpers.assert_checkpointing_changes_nothing(step)
    # the stock blocks' and the DTF mixing's norms count the step once
    assert any('mixing.norm' in n for n in cp_buffers)
    assert all(int(v) == 1 for n, v in cp_buffers.items()
               if n.endswith('num_batches_tracked'))


def test_with_cp_not_in_eval_or_without_grad():
    model = ResNetDTF(18, clip_len=8, with_cp=True)
    model.eval()
    calls = []
    dtf = [m for m in model.modules() if isinstance(m, DTFBlock)][0]
    dtf.register_forward_pre_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 32, 32))
    assert calls == [1]


@pytest.mark.parametrize('init_cfg', [
    None,
    dict(type='Constant', layer='Conv2d', val=0.5),
    [dict(type='Constant', layer='Conv2d', val=0.5)],
])
def test_init_cfg_none_dict_or_list(init_cfg):
    model = ResNetDTF(18, clip_len=8, init_cfg=init_cfg)
    model.init_weights()
    conv = model.layer1[0].conv2.conv  # conv1 holds the DTF block
    if init_cfg is None:  # PyTorch's own initialisation, untouched
        assert not torch.all(conv.weight == 0.5)
    else:
        assert torch.all(conv.weight == 0.5)


def test_missing_pretrained_names_path_and_key(tmp_path):
    model = ResNetDTF(18, clip_len=8, pretrained=str(tmp_path / 'r18.pth'))
    with pytest.raises(FileNotFoundError) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'r18.pth' in msg and 'torchvision format' in msg
    assert '`model.backbone.pretrained`' in msg


def test_corrupt_pretrained_names_path_and_key(tmp_path):
    ckpt = tmp_path / 'broken.pth'
    torch.save(torchvision_state_dict(18), ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # a truncated download
    model = ResNetDTF(18, clip_len=8, pretrained=str(ckpt))
    with pytest.raises(ValueError) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'broken.pth' in msg and 'cannot be loaded as a PyTorch' in msg
    assert '`model.backbone.pretrained`' in msg


def test_invalid_depth_lists_valid_ones_and_key():
    with pytest.raises(ValueError, match=r'invalid depth 42.*'
                       r'`model\.backbone\.depth`.*\[18, 34, 50, 101, 152\]'):
        ResNetDTF(depth=42, pretrained=None)


def test_every_resnet_key_format_loads_the_same_weights(tmp_path):
    paths = key_format_files(tmp_path)
    loaded = {}
    for key_format, path in paths.items():
        torch.manual_seed(0)  # the same random DTF estimators
        model = ResNetDTF(18, clip_len=8, pretrained=str(path))
        model.init_weights()
        loaded[key_format] = model.state_dict()
    stem_2d = torchvision_state_dict(18, seed=3)['conv1.weight']
    torch.testing.assert_close(
        loaded['torchvision']['conv1.conv.weight'].sum(2), stem_2d)
    for key_format in paths:
        for key, value in loaded['torchvision'].items():
            torch.testing.assert_close(loaded[key_format][key], value,
                                       rtol=0, atol=0,
                                       msg=f'{key_format}: {key}')


def test_torchvision_scheme_without_torchvision(monkeypatch):
    """No torchvision: say how to get the matching one without replacing
    torch, and how to use a local file, naming the key."""
    import importlib.util

    from mmdtf.models.weights import checkpoint_file
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a:
                        None if name == 'torchvision' else find_spec(name, *a))
    monkeypatch.setattr(torch, '__version__', '2.5.1+cpu')
    model = ResNetDTF(18, clip_len=8, pretrained='torchvision://resnet18')
    with pytest.raises(ModuleNotFoundError) as err:
        model.init_weights()
    message = str(err.value)
    assert "model.backbone.pretrained='torchvision://resnet18'" in message
    assert ('pip install --no-deps torchvision==0.20.1 --index-url '
            'https://download.pytorch.org/whl/cpu') in message
    assert '/path/to/file.pth' in message and 'resnet18' in message
    assert [checkpoint_file.torchvision_version_for(v) for v in
            ('2.1.2', '2.4.0', '2.13.0+cpu')] == ['0.16.2', '0.19.0',
                                                  '0.28.0']
