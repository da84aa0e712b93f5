"""dtf_r50_k400.py's own pipelines and recipe, end to end at reduced size:
one training iteration, one 10 clips x 3 crops test step, and a checkpoint
that loads for testing and for resuming (torch's weights_only loading)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

REPO = Path(__file__).resolve().parents[2]
SCALE = 4  # geometry divided by 4: 224 -> 56, 256 -> 64


@pytest.fixture(scope='module')
def k400_like(tmp_path_factory):
    return helpers.write_two_class_videos(tmp_path_factory.mktemp('k400'))


def make_cfg(root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(REPO / 'configs' / 'dtf_r50_k400.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.pretrained = None
    cfg.model.cls_head.num_classes = 2
    for name, batch in (('train_dataloader', 2), ('test_dataloader', 1)):
        loader = cfg[name]
        loader.batch_size = batch
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.ann_file = str(root / 'list.txt')
        loader.dataset.data_prefix = dict(video=str(root / 'videos'))
        loader.dataset.pipeline = helpers.scale_pipeline(
            loader.dataset.pipeline, SCALE)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.pop('val_interval')
    cfg.train_cfg.pop('val_begin')
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.randomness = dict(seed=0)
    return cfg


def test_test_pipeline_is_10_clips_x_3_crops(k400_like, tmp_path):
    from mmaction.registry import DATASETS
    cfg = make_cfg(k400_like, tmp_path)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    inputs = dataset[0]['inputs']
    assert tuple(inputs.shape) == (30, 3, 16, 64, 64)  # 10 clips x 3 crops


def test_train_iteration_test_step_and_checkpoint(k400_like, tmp_path,
                                                 monkeypatch):
    # per test run: the (scores, label) of each video
    evaluated = helpers.record_accuracy_inputs(monkeypatch)
    cfg = make_cfg(k400_like, tmp_path)
    runner = Runner.from_cfg(cfg)
    head_inputs = helpers.record_head_inputs(runner.model)
    runner.train()
    assert runner.iter == 1
    # the logged loss is the cross entropy of what the head computed
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert len(head_inputs) == 1
    assert sorted(head_inputs[0][1].tolist()) == [0, 1]  # both videos
    assert loss == pytest.approx(helpers.cross_entropy_of(head_inputs[0]),
                                 rel=1e-5)
    metrics = runner.test()
    # Both videos of list.txt (labels 0, 1), each scored once: the 30 views
    # averaged into one 2-class score vector.
    assert len(evaluated) == 1
    assert [label for _, label in evaluated[0]] == [0, 1]
    scores = np.stack([pred for pred, _ in evaluated[0]])
    assert scores.shape == (2, 2)
    # average_clips='prob': each view's softmax, averaged: probabilities
    np.testing.assert_allclose(scores.sum(1), 1, rtol=1e-5)
    # AccMetric's defaults (topk 1 and 5, mean class accuracy); with 2
    # classes both are in the top 5; with one video per class the mean
    # class accuracy is the top-1 accuracy, here recomputed from the scores.
    assert set(metrics) == {'acc/top1', 'acc/top5', 'acc/mean1'}
    top1 = float(np.mean(scores.argmax(1) == [0, 1]))
    assert metrics['acc/top1'] == pytest.approx(top1)
    assert metrics['acc/mean1'] == pytest.approx(top1)
    assert metrics['acc/top5'] == 1.0

    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.is_file()
    torch.load(checkpoint)  # weights_only (torch's default) accepts it

    # `mim test --checkpoint` path: load_from, then test
    test_cfg = make_cfg(k400_like, tmp_path / 'test')
    test_cfg.load_from = str(checkpoint)
    tested = Runner.from_cfg(test_cfg).test()
    assert tested == pytest.approx(metrics)
    # the loaded weights score both videos as the trained model did
    assert len(evaluated) == 2
    assert [label for _, label in evaluated[1]] == [0, 1]
    np.testing.assert_allclose(
        np.stack([pred for pred, _ in evaluated[1]]), scores, rtol=1e-5,
        atol=1e-6)

    # `--resume` path: continues at epoch 2 with the saved state
    resume_cfg = make_cfg(k400_like, tmp_path)
    resume_cfg.train_cfg.max_epochs = 2
    resume_cfg.resume = True
    resumed = Runner.from_cfg(resume_cfg)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 2
