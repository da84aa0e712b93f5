"""The detection demo's Grid Pool run (configs/coarse_fine/demo), shortened:
generated data, eight epochs on eight videos through MMEngine's Runner,
scored with the Charades per-frame mAP. The reported mAP is recomputed from
the dumped scores by the naive official computation, and the scores follow
each video's content: their mAP is above every one of 200 reassignments of
each class's scores to random frames of random videos (chance). Timing
within a video is not learned in eight epochs (the scores reversed in time
do as well), so frame-level wiring is left to the unit tests of Grid Pool,
GridUnpool and the head. Grid Pool was trained."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.runner import Runner

import helpers
from mmdtf.datasets.synthetic import make_detection_demo_dataset
from naive_charades_map import charades_map

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/coarse_fine/demo/grid_pool_x3d-tiny_demo.py'


@pytest.mark.slow
def test_grid_pool_demo_trains_and_scores(tmp_path):
    # Events of 8-12 of the 32 frames: with 5 coarse frames 8 apart, the
    # demo's 2-4-frame events take far longer than a test can train. Scored
    # on the training videos: whether the pipeline learns and scores the
    # right frames, not whether it generalises.
    make_detection_demo_dataset(tmp_path, num_train=8, num_val=4,
                                    event_frames=(8, 13))
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    for loader, csv in (('train_dataloader', 'train.csv'),
                        ('val_dataloader', 'train.csv'),
                        ('test_dataloader', 'train.csv')):
        cfg[loader].dataset.ann_file = str(tmp_path / csv)
        cfg[loader].dataset.data_prefix = dict(img=str(tmp_path / 'rgb'))
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_begin = \
        cfg.train_cfg.val_interval = 8
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint.interval = 8
    dump = tmp_path / 'scores.pkl'
    cfg.val_evaluator = [cfg.val_evaluator,
                         dict(type='DumpResults', out_file_path=str(dump))]
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    with helpers.one_thread():
        runner.train()
        metrics = runner.val_loop.run()
    videos = load(str(dump))
    assert len(videos) == 8
    got = metrics['charades/mAP']
    assert abs(got - charades_map(videos)) < 1e-9
    # chance: each class's scores reassigned to random frames of all videos
    rng = np.random.RandomState(0)
    scores = np.concatenate([v['pred_frame_scores'].numpy() for v in videos],
                            axis=1)  # (classes, all frames)
    bounds = np.cumsum([0] + [v['pred_frame_scores'].shape[1]
                              for v in videos])
    shuffled = []
    for _ in range(200):
        moved = np.stack([row[rng.permutation(len(row))] for row in scores])
        shuffled.append(charades_map([
            dict(v, pred_frame_scores=moved[:, a:b])
            for v, a, b in zip(videos, bounds[:-1], bounds[1:])]))
    assert got > max(shuffled), (got, max(shuffled))
    last = runner.model.backbone.grid_pool.confidence_net[-1].weight
    assert last.abs().sum() > 0  # started at zero: Grid Pool was trained
    assert np.isfinite(runner.message_hub.get_scalar(
        'train/loss').current())
