"""The detection demo's Grid Pool run (configs/coarse_fine/demo), shortened:
generated data, two epochs through MMEngine's Runner, tested with the
Charades per-frame mAP; the learned grid has moved off the uniform one."""
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import helpers

REPO = Path(__file__).resolve().parents[2]
CONFIG = (REPO / 'configs/coarse_fine/demo/'
          'x3d-tiny_grid-pool_1xb4-32x1x1-30e_detection-demo.py')


def test_grid_pool_demo_trains_and_scores(tmp_path):
    gen = helpers.load_tool('make_detection_demo_dataset')
    gen.make_detection_demo_dataset(tmp_path, num_train=8, num_val=4)
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    for loader, csv in (('train_dataloader', 'train.csv'),
                        ('val_dataloader', 'val.csv'),
                        ('test_dataloader', 'val.csv')):
        cfg[loader].dataset.ann_file = str(tmp_path / csv)
        cfg[loader].dataset.data_prefix = dict(img=str(tmp_path / 'rgb'))
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_begin = \
        cfg.train_cfg.val_interval = 2
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint.interval = 2
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    with helpers.one_thread():
        runner.train()
        metrics = runner.val_loop.run()
    # 4 val videos x 25 frames; random scores would give about the positive
    # rate (~0.25): only finiteness and range are asserted at two epochs
    assert 0 < metrics['charades/mAP'] <= 1
    last = runner.model.backbone.grid_pool.confidence_net[-1].weight
    assert last.abs().sum() > 0  # started at zero: Grid Pool was trained
    assert np.isfinite(runner.message_hub.get_scalar(
        'train/loss').current())
