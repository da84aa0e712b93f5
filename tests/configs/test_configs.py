"""Every shipped config loads and its model builds; inheriting a config from
another project's directory works without copying files."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config

from mmdtf.utils import config_dir

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def build_model(cfg):
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['pretrained'] = None  # nothing to download here
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports['imports'] == ['mmdtf']
    model = build_model(cfg)
    clip_len = cfg.model.backbone.get('clip_len')
    # the pipelines sample what the backbone was built for
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        steps = cfg[loader].dataset.pipeline
        sample = [s for s in steps if s['type'] == 'SampleFrames']
        assert len(sample) == 1, loader
        if clip_len is not None:
            assert sample[0]['clip_len'] == clip_len, loader
    assert sum(p.numel() for p in model.parameters()) > 1e5


def test_k400_recipe():
    cfg = Config.fromfile(str(REPO / 'configs' / 'dtf_r50_k400.py'))
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.optimizer.lr == 0.04
    assert cfg.optim_wrapper.clip_grad.max_norm == 40
    assert cfg.train_cfg.max_epochs == 128
    test_steps = {s['type']: s for s in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['SampleFrames']['num_clips'] == 10
    assert test_steps['ThreeCrop']['crop_size'] == 256
    assert cfg.model.cls_head.dropout_ratio == 0.5


@pytest.mark.parametrize('name', ['sthv1', 'sthv2'])
def test_something_something_has_no_flip(name):
    path, = (REPO / 'configs').glob(f'dtf_*r50*_{name}-rgb.py')
    cfg = Config.fromfile(str(path))
    for loader in ('train_dataloader', 'test_dataloader'):
        types = [s['type'] for s in cfg[loader].dataset.pipeline]
        assert 'Flip' not in types
    test_steps = {s['type']: s for s in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['SampleFrames']['num_clips'] == 1
    assert 'ThreeCrop' in test_steps
    assert cfg.model.cls_head.num_classes == 174


def _write_child(directory: Path, base: str) -> Path:
    child = directory / 'my_project' / 'my_dtf.py'
    child.parent.mkdir(parents=True)
    child.write_text(f"_base_ = ['{base}']\n"
                     'model = dict(cls_head=dict(num_classes=7))\n')
    return child


def test_inherit_by_path_from_another_project(tmp_path):
    base = config_dir() / 'dtf_r50_k400.py'
    child = _write_child(tmp_path, str(base))
    cfg = Config.fromfile(str(child))
    assert cfg.model.cls_head.num_classes == 7
    assert cfg.model.backbone.type == 'ResNetDTF'
    assert build_model(cfg).cls_head.fc_cls.out_features == 7


def test_inherit_through_environment_variable(tmp_path, monkeypatch):
    child = _write_child(tmp_path, '{{$MMDTF_CONFIGS:}}/dtf_r50_k400.py')
    monkeypatch.setenv('MMDTF_CONFIGS', str(config_dir()))
    cfg = Config.fromfile(str(child))
    assert cfg.model.cls_head.num_classes == 7
    assert build_model(cfg).cls_head.fc_cls.out_features == 7


def test_config_dir_command_prints_the_directory():
    out = subprocess.run(
        [sys.executable, '-c', 'from mmdtf.utils.resources import main; main()'],
        capture_output=True, text=True, check=True, env=dict(os.environ))
    assert Path(out.stdout.strip()) == config_dir()
    assert (config_dir() / 'dtf_r50_k400.py').is_file()
