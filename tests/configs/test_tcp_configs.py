"""The TCP configs end to end at reduced size (R18, 1/8 geometry, 2 classes):
one training iteration with the head at 5x lr, and one 10 clips x 3 crops
test step whose views are averaged per video."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs' / 'tcp').glob('*.py'))
SCALE = 8  # 224 -> 28, 256 -> 32


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return helpers.write_two_class_videos(tmp_path_factory.mktemp('tcp'))


def small(path: Path, root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(work_dir)
    backbone = cfg.model.backbone
    backbone.update(depth=18, pretrained=None)
    backbone.pop('init_cfg', None)
    cfg.model.cls_head.update(num_classes=2, in_channels=512)
    for name in ('train_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.update(batch_size=2 if name == 'train_dataloader' else 1,
                      num_workers=0, persistent_workers=False)
        loader.dataset.ann_file = str(root / 'list.txt')
        loader.dataset.data_prefix = dict(video=str(root / 'videos'))
        loader.dataset.pipeline = helpers.scale_pipeline(
            loader.dataset.pipeline, SCALE)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_train_iteration_and_10x3_test_step(path, videos, tmp_path,
                                            monkeypatch):
    from mmaction.evaluation import AccMetric
    from mmaction.registry import DATASETS
    cfg = small(path, videos, tmp_path)
    inputs = DATASETS.build(cfg.test_dataloader.dataset)[0]['inputs']
    if cfg.model.type == 'Recognizer2D':  # 3 crops x 10 clips x T frames
        assert inputs.shape[0] == 30 * cfg.model.cls_head.num_segments
    else:
        assert inputs.shape[0] == 30  # 10 clips x 3 crops

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    # paramwise_cfg: the head (and only it) at 5x lr (no scheduler here)
    base_lr = cfg.optim_wrapper.optimizer.lr
    head = {id(p) for p in runner.model.cls_head.parameters()}
    groups = runner.optim_wrapper.param_groups
    assert {round(g['lr'] / base_lr, 6) for g in groups} == {1, 5}
    for group in groups:
        in_head = {id(p) in head for p in group['params']}
        assert in_head == {group['lr'] > base_lr * 1.5}
    assert np.isfinite(
        runner.message_hub.get_scalar('train/loss').current())

    scores = []
    compute_metrics = AccMetric.compute_metrics

    def recording(self, results):
        scores.extend(r['pred'] for r in results)
        return compute_metrics(self, results)

    monkeypatch.setattr(AccMetric, 'compute_metrics', recording)
    runner.test()
    # one averaged 2-class probability vector per video
    assert np.stack(scores).shape == (2, 2)
    np.testing.assert_allclose(np.stack(scores).sum(1), 1, rtol=1e-5)


def test_readme_tcp_snippet_builds_and_predicts(tmp_path):
    """The README's "TCP on any recognizer" config, verbatim: MMAction2's
    TSN R50 with TCPHead, one 8-segment clip through the model."""
    import re

    import torch
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmengine.registry import init_default_scope
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    block = [b for b in re.findall(r'```python\n(.*?)```', readme, re.S)
             if 'TCPHead' in b]
    assert len(block) == 1, 'README: one TCP snippet'
    path = tmp_path / 'tsn_tcp.py'
    path.write_text(block[0])
    cfg = Config.fromfile(str(path))
    assert cfg.model.cls_head.type == 'TCPHead'
    cfg.model.backbone.pretrained = None
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model).eval()
    sample = ActionDataSample().set_gt_label(torch.tensor([3]))
    with torch.no_grad():
        out = model(torch.randn(1, 8, 3, 64, 64), [sample], mode='predict')
    assert out[0].pred_score.shape == (400, )
    assert torch.isfinite(out[0].pred_score).all()
