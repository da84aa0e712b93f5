"""The Charades Coarse-Fine config end to end at reduced size (32 px,
8-frame training clips, K = T / 4): one training iteration and one test
step through MMEngine's Runner, on generated frame folders, CSV and fine
features. The test scores every video whole at the training frame rate,
and the mAP it reports is recomputed from the dumped scores by the naive
official computation (tests/naive_charades_map.py)."""
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.runner import Runner

import helpers  # tests/helpers.py
from naive_charades_map import charades_map

REPO = Path(__file__).resolve().parents[2]
CONFIG = (REPO / 'configs/coarse_fine/'
          'coarse-fine_x3d-m_1xb6-64x10x1-40e_charades-rgb.py')
def test_train_iteration_and_test_step(tmp_path):
    helpers.make_charades_like(tmp_path)
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = None
    cfg.model.cls_head.num_classes = 4
    cfg.model.cls_head.mid_channels = 32
    for name, batch in (('train_dataloader', 2), ('test_dataloader', 1)):
        loader = cfg[name]
        loader.batch_size = batch
        loader.num_workers = 0
        loader.persistent_workers = False
        ds = loader.dataset
        ds.ann_file = str(tmp_path / 'ann.csv')
        ds.data_prefix = dict(img=str(tmp_path / 'rgb'))
        ds.fine_feature_prefix = str(tmp_path / 'fine')
        ds.num_classes = 4
        for t in ds.pipeline:
            if t['type'] == 'SampleDetectionFrames':
                t.update(clip_len=8, frame_interval=2)
            if t['type'] == 'Resize' and t['scale'][0] == -1:
                t['scale'] = (-1, 36)
            if t['type'] == 'Resize' and t['scale'] == (224, 224):
                t['scale'] = (32, 32)
            if t['type'] in ('MultiScaleCrop', 'CenterCrop'):
                t[('input_size' if 'input_size' in t else 'crop_size')] = 32
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_evaluator = [cfg.test_evaluator, dict(
        type='DumpResults', out_file_path=str(tmp_path / 'scores.pkl'))]
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.randomness = dict(seed=0)
    with helpers.one_thread():
        run_and_check(Runner.from_cfg(cfg), tmp_path / 'scores.pkl')


def run_and_check(runner, dump):
    runner.train()
    assert runner.iter == 1
    # 10x lr on the fusion layers, and only there
    model = runner.model
    fused = {id(p) for p in model.backbone.fusion.parameters()} | {
        id(p) for p in model.cls_head.logit_fusion.parameters()}
    for group in runner.optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            assert group['lr'] == (0.2 if id(p) in fused else 0.02)
    for key in ('loss_frame', 'loss_video'):
        loss = runner.message_hub.get_scalar(f'train/{key}').current()
        assert np.isfinite(loss) and loss > 0
    metrics = runner.test()
    assert metrics['charades/classes_with_positives'] == 3
    videos = load(str(dump))
    # each 24-frame, 6 s video whole, every 2nd frame (the training rate)
    for video in videos:
        np.testing.assert_allclose(video['frame_times'],
                                   np.arange(0, 24, 2) / 4)
        assert tuple(video['pred_frame_scores'].shape) == (4, 12)
    assert abs(metrics['charades/mAP'] - charades_map(videos)) < 1e-9
