"""The 2D ``pretrained`` of the peer models' ResNets (ResNetTINShift; the
TSN / TSM + TCP configs' ResNetMultiFormat / ResNetTSMMultiFormat) in every
key format docs/user_guides/pretrained.md lists: each file, generated here,
loads the source's numbers into the right tensors; a wrong file is refused
by name."""
import re

import pytest
import torch
from mmaction.registry import MODELS

from helpers import key_format_files, torchvision_state_dict

#: backbone -> (its extra arguments, the names of every block's conv1 and
#: bn1 in its state_dict: TSM's shift and TIN's interlace wrap the
#: ConvModule's conv)
BACKBONES = {
    'ResNetMultiFormat': (dict(), 'conv1.conv', 'conv1.bn'),
    'ResNetTSMMultiFormat': (dict(num_segments=8), 'conv1.conv.net',
                             'conv1.bn'),
    'ResNetTINShift': (dict(num_segments=8), 'conv1.conv.net2', 'conv1.bn'),
}


def backbone_key(tv_key: str, block_conv1: str, block_bn1: str) -> str:
    """A torchvision key's name in MMAction2's ConvModule ResNets, written
    out here, independently of the loader's mapping."""
    for pattern, repl in (
            (r'^conv1\.', 'conv1.conv.'), (r'^bn1\.', 'conv1.bn.'),
            (r'\.downsample\.0\.', '.downsample.conv.'),
            (r'\.downsample\.1\.', '.downsample.bn.'),
            (r'^(layer\d+\.\d+)\.conv1\.', rf'\1.{block_conv1}.'),
            (r'^(layer\d+\.\d+)\.bn1\.', rf'\1.{block_bn1}.'),
            (r'^(layer\d+\.\d+)\.conv(\d)\.', r'\1.conv\2.conv.'),
            (r'^(layer\d+\.\d+)\.bn(\d)\.', r'\1.conv\2.bn.')):
        key, hits = re.subn(pattern, repl, tv_key)
        if hits:
            return key
    raise AssertionError(f'unexpected torchvision key {tv_key}')


def build(backbone: str, **kwargs):
    extra = BACKBONES[backbone][0]
    return MODELS.build(dict(type=backbone, depth=18, **extra, **kwargs))


@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_every_key_format_loads_the_source_tensors(tmp_path, backbone):
    source = torchvision_state_dict(18, seed=3)  # what key_format_files saved
    _, block_conv1, block_bn1 = BACKBONES[backbone]
    for key_format, path in key_format_files(tmp_path).items():
        model = build(backbone, pretrained=str(path))
        model.init_weights()
        state = model.state_dict()
        for tv_key, value in source.items():
            if tv_key.startswith('fc.'):
                continue
            key = backbone_key(tv_key, block_conv1, block_bn1)
            torch.testing.assert_close(state[key], value, rtol=0, atol=0,
                                       msg=f'{backbone}, {key_format}: '
                                       f'{tv_key}')


@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_wrong_depth_names_file_and_key(tmp_path, backbone):
    ckpt = tmp_path / 'r18.pth'
    torch.save(torchvision_state_dict(18), ckpt)
    extra = BACKBONES[backbone][0]
    model = MODELS.build(dict(type=backbone, depth=50, pretrained=str(ckpt),
                              **extra))
    with pytest.raises((KeyError, ValueError)) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'r18.pth' in msg and '`model.backbone.pretrained`' in msg


@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_foreign_file_is_refused_not_skipped(tmp_path, backbone):
    """MMAction2's ResNetTSM loader would skip every key it does not know
    and leave the network random, without an error."""
    ckpt = tmp_path / 'detector.pth'
    torch.save({'state_dict': {'neck.conv.weight': torch.zeros(1)}}, ckpt)
    model = build(backbone, pretrained=str(ckpt))
    with pytest.raises(ValueError, match=r'detector\.pth is not a 2D ResNet '
                       r'checkpoint.*`model\.backbone\.pretrained`'):
        model.init_weights()


@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_pretrained_none_initialises(backbone):
    model = build(backbone, pretrained=None)
    model.init_weights()  # stock ResNetTSM would read 2D weights from None
    assert model.conv1.bn.weight.eq(1).all()


def test_log_counts_the_loaded_tensors_and_names_the_unused(tmp_path,
                                                            monkeypatch):
    """One line: the tensors a 2D ResNet-18 has (every key of the file but
    the classifier), the file, its key format, the classifier not used."""
    from mmengine.logging import MMLogger
    paths = key_format_files(tmp_path)
    source = torchvision_state_dict(18, seed=3)
    lines = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'info',
                        lines.append)
    model = build('ResNetMultiFormat', pretrained=str(paths['torchvision']))
    model.init_weights()
    assert lines == [
        f"ResNetMultiFormat: loaded {len(source) - 2} tensors from "
        f"{paths['torchvision']} (torchvision/timm format); not used: "
        "['fc.bias', 'fc.weight']"]
