"""configs/tin: the TIN recipe and segment counts the names promise (the
generic load/build and lr checks are in test_configs.py)."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TIN_CONFIGS = sorted((REPO / 'configs' / 'tin').glob('tin_*.py'))


def test_every_dataset_and_length_is_there():
    names = {p.name for p in TIN_CONFIGS}
    for data in ('kinetics400', 'sthv1', 'sthv2'):
        for segments in (8, 16):
            assert any(f'1x1x{segments}-' in n and f'_{data}-rgb' in n
                       for n in names), (data, segments)


@pytest.mark.parametrize('path', TIN_CONFIGS, ids=lambda p: p.name)
def test_tin_recipe(path):
    cfg = Config.fromfile(str(path))
    segments = int(re.search(r'1x1x(\d+)-', path.name).group(1))
    epochs = int(re.search(r'-(\d+)e_', path.name).group(1))
    backbone, head = cfg.model.backbone, cfg.model.cls_head
    assert backbone.type == 'ResNetTINShift' and backbone.depth == 50
    assert backbone.shift_div == 4
    assert backbone.num_segments == head.num_segments == segments
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        steps = {s['type']: s for s in cfg[loader].dataset.pipeline}
        sample = steps['SampleFrames']
        assert (sample['clip_len'], sample['num_clips']) == (1, segments)
        assert steps['FormatShape']['input_format'] == 'NCHW'
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.02, 0.9, 5e-4)
    assert cfg.optim_wrapper.clip_grad.max_norm == 20
    assert cfg.optim_wrapper.paramwise_cfg == dict(fc_lr5=True)
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 1)
    assert (cosine.type, cosine.end) == ('CosineAnnealingLR', epochs)
    train_steps = [s['type'] for s in cfg.train_dataloader.dataset.pipeline]
    if 'kinetics400' in path.name:
        assert head.num_classes == 400 and head.dropout_ratio == 0.5
        assert 'Flip' in train_steps
        assert cfg.train_dataloader.dataset.type == 'CheckedVideoDataset'
    else:  # Something-Something: left/right matters
        assert head.num_classes == 174 and head.dropout_ratio == 0.8
        assert 'Flip' not in train_steps
        expected = 'RawframeDataset' if 'sthv1' in path.name else \
            'CheckedVideoDataset'
        assert cfg.test_dataloader.dataset.type == expected


# MMAction2's TIN zoo: config of each released checkpoint (metafile.yml),
# and ours for the same dataset and segment count.
ZOO = {
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv1-rgb':
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv1-rgb.py',
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv2-rgb':
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv2-rgb.py',
    'tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb':
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-50e_kinetics400-rgb.py',
}


@pytest.mark.parametrize('zoo_name', sorted(ZOO))
def test_released_mmaction2_checkpoint_loads_strictly(zoo_name, tmp_path):
    """A checkpoint of MMAction2's TIN zoo, as MMEngine saved it (``meta``
    and ``state_dict`` of the stock recognizer built from MMAction2's own
    config of that checkpoint: its exact key list and shapes, random
    values), loads strictly into the model of our config and every value
    arrives."""
    from mmaction.registry import MODELS
    from mmengine.runner import load_checkpoint
    import mmaction
    stock_cfg = Config.fromfile(str(
        Path(mmaction.__file__).parent / '.mim' / 'configs' / 'recognition' /
        'tin' / f'{zoo_name}.py'))
    assert stock_cfg.model.backbone.type == 'ResNetTIN'
    torch.manual_seed(0)
    stock = MODELS.build(stock_cfg.model)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in stock.state_dict().items()}
    path = tmp_path / f'{zoo_name}.pth'
    torch.save(dict(meta=dict(mmengine_version='0.10.7', epoch=40),
                    state_dict=state), path)
    ours = MODELS.build(
        Config.fromfile(str(REPO / 'configs' / 'tin' / ZOO[zoo_name])).model)
    assert type(ours.backbone).__name__ == 'ResNetTINShift'
    load_checkpoint(ours, str(path), strict=True)
    loaded = ours.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
