"""CheckedVideoDataset: annotation checks at build time, bad videos named by
file and annotation line (fail fast, or skipped on request), short videos,
dataloader workers (errors and hard crashes)."""
import logging
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mmaction.registry import DATASETS, TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from mmdtf.datasets import SKIPPED_VIDEOS, BadVideoError

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)


SKIP_KEY = 'train_dataloader.dataset.skip_bad_videos=True'


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """8 good training videos (one per class) and 4 bad ones."""
    return helpers.make_bad_demo_data(tmp_path_factory.mktemp('bad_data'))


@pytest.fixture(scope='module')
def pipeline():
    cfg = helpers.demo_config(Path('unused'), size=32)
    return cfg.train_dataloader.dataset.pipeline


def build(root, pipeline, ann_file=None, **kwargs):
    cfg = dict(
        type='CheckedVideoDataset',
        ann_file=str(ann_file or root / 'train_list.txt'),
        data_prefix=dict(video=str(root / 'videos')),
        pipeline=pipeline,
        num_classes=8)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def index_of(dataset, relative_path):
    for idx in range(len(dataset)):
        if dataset.get_data_info(idx)['filename'].endswith(relative_path):
            return idx
    raise KeyError(relative_path)


@pytest.fixture
def warnings_logged():
    """WARNING records of MMEngine's current logger."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_reads_what_video_dataset_reads(data, pipeline):
    root, _ = data
    checked = build(root, pipeline)
    plain = DATASETS.build(
        dict(type='VideoDataset', ann_file=str(root / 'train_list.txt'),
             data_prefix=dict(video=str(root / 'videos')), pipeline=pipeline))
    assert len(checked) == len(plain) == 12
    for idx in range(len(plain)):
        ours, theirs = checked.get_data_info(idx), plain.get_data_info(idx)
        assert (ours['filename'], ours['label']) == (theirs['filename'],
                                                     theirs['label'])
        assert ours['ann_line'] == idx + 1
    sample = checked[0]
    assert tuple(sample['inputs'].shape) == (1, 3, 16, 32, 32)
    assert sample['data_samples'].gt_label.item() == 0


@pytest.mark.parametrize('line, problem', [
    ('train/x.mp4 abc', "label 'abc' is not an integer"),
    ('train/x.mp4 1 2', 'expected 2 columns (path, label), got 3'),
    ('train/x.mp4', 'expected 2 columns (path, label), got 1'),
    ('train/x.mp4 8', 'label 8 is outside [0, 8) (num_classes=8)'),
    ('train/x.mp4 -1', 'label -1 is negative'),
])
def test_bad_annotation_line_fails_at_build(tmp_path, pipeline, line,
                                            problem):
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text(f'train/a.mp4 0\n\ntrain/b.mp4 7\n{line}\n')
    with pytest.raises(ValueError) as error:
        build(tmp_path, pipeline, ann_file=ann_file)
    message = str(error.value)
    assert f'1 bad line(s) in annotation file {ann_file}' in message
    assert f'line 4: {problem}' in message  # blank line 2 still counts
    assert '"<video path> <label>"' in message
    assert 'in [0, num_classes) with num_classes=8' in message


def test_all_bad_annotation_lines_reported_together(tmp_path, pipeline):
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text('a.mp4 x\nb.mp4 1\nc.mp4 9\nd.mp4 1 1\n')
    with pytest.raises(ValueError, match='3 bad line') as error:
        build(tmp_path, pipeline, ann_file=ann_file)
    assert [f'line {n}:' in str(error.value) for n in (1, 2, 3, 4)] == [
        True, False, True, True]


def test_unlabelled_lines_only_in_test_mode(tmp_path, pipeline):
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text('a.mp4\n')
    dataset = build(tmp_path, pipeline, ann_file=ann_file, test_mode=True)
    assert dataset.get_data_info(0)['label'] == -1


@pytest.mark.parametrize('kind, reason', [
    ('missing', 'file not found'),
    ('empty', 'empty file (0 bytes)'),
    ('truncated', 'DecordInit failed with RuntimeError'),
])
def test_bad_video_fails_fast_naming_file_and_line(data, pipeline, kind,
                                                   reason):
    root, bad = data
    dataset = build(root, pipeline)
    path, line = bad[kind]
    with pytest.raises(BadVideoError) as error:
        dataset[index_of(dataset, path)]
    message = str(error.value)
    assert message.startswith(
        f"Bad video {root / 'videos' / path} (line {line} of "
        f"{root / 'train_list.txt'}): {reason}")
    assert SKIP_KEY in message
    assert (error.value.filename, error.value.ann_line) == (
        str(root / 'videos' / path), line)


def test_val_set_errors_say_it_cannot_skip(data, pipeline):
    root, bad = data
    dataset = build(root, pipeline, test_mode=True)
    with pytest.raises(BadVideoError, match='val/test sets cannot skip'):
        dataset[index_of(dataset, bad['empty'][0])]
    with pytest.raises(ValueError, match='for training sets only'):
        build(root, pipeline, test_mode=True, skip_bad_videos=True)


def test_short_video_is_looped_by_default(data):
    """Our choice: as in MMAction2, a video shorter than the clip is valid,
    ``SampleFrames`` loops it; ``min_frames`` makes it a bad video."""
    root, bad = data
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=16, frame_interval=1,
             num_clips=1),
        dict(type='DecordDecode'),
    ]
    path, line = bad['short']
    dataset = build(root, pipeline)
    results = dataset[index_of(dataset, path)]
    assert results['total_frames'] == 10
    np.testing.assert_array_equal(results['frame_inds'], np.arange(16) % 10)
    assert len(results['imgs']) == 16
    np.testing.assert_array_equal(results['imgs'][10], results['imgs'][0])

    strict = build(root, pipeline, min_frames=16)
    with pytest.raises(BadVideoError) as error:
        strict[index_of(strict, path)]
    assert f'(line {line} of ' in str(error.value)
    assert 'it has 10 frames, fewer than min_frames=16' in str(error.value)
    assert len(strict[0]['imgs']) == 16  # 16-frame videos pass


def test_skip_bad_videos_replaces_warns_once_and_tags(data, pipeline,
                                                      warnings_logged):
    root, bad = data
    dataset = build(root, pipeline, skip_bad_videos=True)
    np.random.seed(0)
    skipped = []
    for _ in range(2):  # two passes: each file is warned about once
        for idx in range(len(dataset)):
            sample = dataset[idx]
            assert tuple(sample['inputs'].shape) == (1, 3, 16, 32, 32)
            skipped += sample['data_samples'].metainfo.get(SKIPPED_VIDEOS, [])
    bad_files = {(str(root / 'videos' / bad[k][0]), bad[k][1])
                 for k in ('missing', 'empty', 'truncated')}
    assert set(skipped) == bad_files  # the short video is not skipped
    assert len(skipped) >= 6  # each bad index visited twice
    messages = [r.getMessage() for r in warnings_logged]
    for filename, line in bad_files:
        warned = [m for m in messages if m.startswith(
            f'Bad video {filename} (line {line} of ')]
        assert len(warned) == 1, messages
        assert 'Skipped (skip_bad_videos=True)' in warned[0]


def test_skip_gives_up_when_nothing_loads(tmp_path, pipeline):
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text('a.mp4 0\nb.mp4 1\n')
    dataset = build(tmp_path, pipeline, ann_file=ann_file,
                    skip_bad_videos=True, max_refetch=3)
    with pytest.raises(RuntimeError) as error:
        dataset[0]
    message = str(error.value)
    assert message.startswith(
        f'No usable sample found in 4 attempts (max_refetch=3) in {ann_file}: '
        '4 bad video(s) skipped (skip_bad_videos=True), the last: Bad video '
        f'{tmp_path / "videos"}')
    assert message.count('file not found') == 1
    assert 'returned None' not in message
    assert 'Fix or remove the bad videos, or raise' in message


@TRANSFORMS.register_module(force=True)
class DropMovingLeft(BaseTransform):
    """Drops (returns None for) every moving_left sample, as a filtering
    transform would."""

    def transform(self, results):
        return None if 'moving_left' in results['filename'] else results


def drop_list(tmp_path, lines):
    ann_file = tmp_path / 'drop_list.txt'
    ann_file.write_text(''.join(f'{line}\n' for line in lines))
    return ann_file


def test_gives_up_naming_samples_the_pipeline_drops(data, tmp_path,
                                                    pipeline):
    """A pipeline that keeps returning None: the error says so, with the
    dropped sample, its file, its line and the transform, not 'bad videos'."""
    root, _ = data
    ann_file = drop_list(tmp_path, ['train/moving_left/0000.mp4 1'])
    dataset = build(root, [dict(type='DropMovingLeft'), *pipeline],
                    ann_file=ann_file, max_refetch=2)
    with pytest.raises(RuntimeError) as error:
        dataset[0]
    video = root / 'videos' / 'train' / 'moving_left' / '0000.mp4'
    assert str(error.value) == (
        f'No usable sample found in 3 attempts (max_refetch=2) in {ann_file}: '
        f'the pipeline returned None for 3 sample(s), the last: sample 0, '
        f'{video} (line 1 of {ann_file}), dropped by DropMovingLeft. Check '
        'why the pipeline drops these samples (a transform that returns None '
        'discards its sample), or raise the dataset\'s `max_refetch` (e.g. '
        '`--cfg-options train_dataloader.dataset.max_refetch=6`).')


def test_gives_up_with_bad_videos_and_dropped_samples(data, tmp_path,
                                                      pipeline):
    root, bad = data
    ann_file = drop_list(tmp_path, ['train/moving_left/0000.mp4 1',
                                    f'{bad["missing"][0]} 0'])
    dataset = build(root, [dict(type='DropMovingLeft'), *pipeline],
                    ann_file=ann_file, skip_bad_videos=True, max_refetch=19)
    np.random.seed(0)  # _rand_another: 20 draws from 2 samples
    with pytest.raises(RuntimeError) as error:
        dataset[0]
    message = str(error.value)
    skipped = int(message.split(': ', 1)[1].split(' bad video(s)')[0])
    dropped = int(message.split('returned None for ')[1].split(' sample')[0])
    assert skipped >= 1 and dropped >= 1 and skipped + dropped == 20
    assert (f'the last: Bad video {root / "videos" / bad["missing"][0]} '
            f'(line 2 of {ann_file}): file not found; ') in message
    assert f'(line 1 of {ann_file}), dropped by DropMovingLeft.' in message
    assert ('Check why the pipeline drops these samples (a transform that '
            'returns None discards its sample), fix or remove the bad '
            'videos, or raise') in message


def test_test_mode_pipeline_returning_none_names_sample(data, tmp_path,
                                                        pipeline):
    root, _ = data
    ann_file = drop_list(tmp_path, ['train/moving_right/0000.mp4 0',
                                    'train/moving_left/0000.mp4 1'])
    dataset = build(root, [dict(type='DropMovingLeft'), *pipeline],
                    ann_file=ann_file, test_mode=True)
    assert dataset[0]['data_samples'].gt_label.item() == 0
    with pytest.raises(BadVideoError) as error:
        dataset[1]
    video = root / 'videos' / 'train' / 'moving_left' / '0000.mp4'
    assert str(error.value) == (
        f'The test-time pipeline returned None for sample 1 ({video} (line 2 '
        f'of {ann_file}), dropped by DropMovingLeft).')


@pytest.mark.parametrize('key, value', [('num_classes', 0),
                                        ('num_classes', -3),
                                        ('min_frames', 0)])
def test_non_positive_settings_name_value_and_key(tmp_path, pipeline, key,
                                                  value):
    ann_file = drop_list(tmp_path, ['a.mp4 0'])
    with pytest.raises(ValueError) as error:
        build(tmp_path, pipeline, ann_file=ann_file, **{key: value})
    message = str(error.value)
    assert message.startswith(
        f"CheckedVideoDataset('{ann_file}'): {key} must be positive, got "
        f'{key}={value}. ')
    assert f'`train_dataloader.dataset.{key}`' in message
    if key == 'num_classes':
        assert '`model.cls_head.num_classes`' in message


def test_worker_error_names_file(data, pipeline):
    root, bad = data
    dataset = build(root, pipeline)
    loader = DataLoader(dataset, batch_size=4, num_workers=2,
                        collate_fn=pseudo_collate, timeout=60)
    with pytest.raises(BadVideoError) as error:
        list(loader)
    # batches 0 and 1 are good; batch 2 (worker 0) starts with the missing
    # video
    message = str(error.value)
    assert 'Caught BadVideoError in DataLoader worker process 0' in message
    path, line = bad['missing']
    assert (f"Bad video {root / 'videos' / path} (line {line} of "
            f"{root / 'train_list.txt'}): file not found") in message


def test_worker_crash_names_file(data, tmp_path):
    """A decoder that crashes the worker (SIGSEGV): PyTorch reports the dead
    worker, faulthandler's traceback names the video it was loading."""
    root, _ = data
    crash_list = tmp_path / 'crash_list.txt'
    crash_list.write_text('train/moving_right/0000.mp4 0\n'
                          'train/moving_left/0000.mp4 1\n')
    script = tmp_path / 'crash.py'
    script.write_text(textwrap.dedent(f'''
        import ctypes
        from mmaction.registry import DATASETS, TRANSFORMS
        from mmcv.transforms import BaseTransform
        from mmengine.dataset import pseudo_collate
        from mmengine.registry import init_default_scope
        from torch.utils.data import DataLoader
        import mmdtf  # noqa

        init_default_scope('mmaction')

        @TRANSFORMS.register_module()
        class CrashOn(BaseTransform):
            def transform(self, results):
                if 'moving_left' in results['filename']:
                    ctypes.string_at(0)  # segmentation fault
                return results

        dataset = DATASETS.build(dict(
            type='CheckedVideoDataset', ann_file={str(crash_list)!r},
            data_prefix=dict(video={str(root / 'videos')!r}),
            pipeline=[dict(type='CrashOn')], num_classes=8))
        loader = DataLoader(dataset, batch_size=1, num_workers=1,
                            collate_fn=pseudo_collate)
        print('done:', len(list(loader)))
        '''))
    result = helpers.run(helpers.python_cmd(script), tmp_path / 'crash.log',
                         timeout=60, check=False)
    assert result.returncode != 0
    assert 'done: 2' not in result.stdout
    assert 'DataLoader worker (pid' in result.stdout
    assert 'Segmentation fault' in result.stdout
    video = root / 'videos' / 'train' / 'moving_left' / '0000.mp4'
    assert f'in load {video} (line 2 of {crash_list})' in result.stdout
