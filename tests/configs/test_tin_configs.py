"""configs/tin: the TIN recipe and segment counts the names promise (the
generic load/build and lr checks are in test_configs.py)."""
import re
from pathlib import Path

import pytest
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
    assert backbone.type == 'ResNetTINTorch' and backbone.depth == 50
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
