"""BadVideoHook: skipped bad videos are counted exactly in the main process,
with dataloader workers (separate processes) as without, and reported at
the end of every epoch."""
import logging
from collections import Counter

import pytest
from mmaction.registry import DATASETS
from mmengine.runner import Runner

from mmdtf.datasets import CheckedVideoDataset
from mmdtf.engine.hooks import BadVideoHook

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)


@DATASETS.register_module(force=True)
class SkipRecordingDataset(CheckedVideoDataset):
    """Writes every skip to a file: the ground truth, from any process."""

    def __init__(self, record: str, **kwargs):
        self.record = record
        super().__init__(**kwargs)

    def _warn_skip(self, error):
        with open(self.record, 'a') as f:
            f.write(f'{error.filename}\t{error.ann_line}\n')
        super()._warn_skip(error)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return helpers.make_bad_demo_data(tmp_path_factory.mktemp('hook_data'))


@pytest.mark.parametrize('num_workers', [0, 2])
def test_counts_every_skip_across_workers(data, tmp_path, num_workers):
    root, bad = data
    record = tmp_path / 'skips.txt'
    record.touch()
    cfg = helpers.demo_config(
        root, tmp_path / 'work', max_epochs=2, num_workers=num_workers)
    cfg.train_dataloader.dataset.update(
        type='SkipRecordingDataset', record=str(record), num_classes=8,
        skip_bad_videos=True)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.randomness = dict(seed=0)
    cfg.custom_hooks = [dict(type='BadVideoHook')]
    runner = Runner.from_cfg(cfg)
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    runner.logger.addHandler(handler)
    try:
        with helpers.one_thread():
            runner.train()
    finally:
        runner.logger.removeHandler(handler)

    assert runner.epoch == 2 and runner.iter == 6  # 12 samples, batch 4
    hook = next(h for h in runner.hooks if isinstance(h, BadVideoHook))
    truth = Counter(
        (filename, int(line)) for filename, line in
        (row.split('\t') for row in record.read_text().splitlines()))
    counted = hook.epoch_counts[0] + hook.epoch_counts[1]
    assert counted == truth  # exact, per file, whatever the workers
    bad_files = {(str(root / 'videos' / bad[kind][0]), bad[kind][1])
                 for kind in ('missing', 'empty', 'truncated')}
    for epoch_counts in hook.epoch_counts:  # every bad index, every epoch
        assert set(epoch_counts) == bad_files
    summaries = [r.getMessage() for r in records
                 if 'bad video sample(s)' in r.getMessage()]
    assert len(summaries) == 2
    for epoch, (summary, counts) in enumerate(
            zip(summaries, hook.epoch_counts), 1):
        assert summary.startswith(
            f'Epoch {epoch}: skipped {sum(counts.values())} bad video '
            'sample(s) of 3 file(s) (skip_bad_videos=True)')
        for (filename, line), count in counts.items():
            assert f'{filename} (annotation line {line}): {count}x' in summary
