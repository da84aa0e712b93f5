"""The demo's dataset (mmdtf.datasets.synthetic.shape_order): classes in
exact time-reversed pairs, events far apart, a fixed seed; written to disk
(video_files) and read back by decord."""
from pathlib import Path

import decord
import numpy as np
import pytest

from mmdtf.datasets.synthetic.shape_order import (CLASSES, generate_clip,
                                                  make_demo_dataset)
from mmdtf.datasets.synthetic.video_files import (check_videos, clip_rng,
                                                  read_video, write_video)

NUM_FRAMES = 16
SIZE = 32
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))


def _read_list(path):
    entries = []
    for line in Path(path).read_text().splitlines():
        rel_path, label = line.split()
        entries.append((rel_path, int(label)))
    return entries


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    summary = make_demo_dataset(
        str(root),
        num_frames=NUM_FRAMES,
        size=SIZE,
        train_per_class=2,
        val_per_class=1,
        seed=3,
        check=True)
    return root, summary


def test_annotation_files(dataset):
    root, summary = dataset
    num_classes = len(CLASSES)
    assert num_classes == 8
    assert (root / 'classes.txt').read_text().splitlines() == list(
        CLASSES)
    assert summary['classes'] == list(CLASSES)
    for split, per_class in (('train', 2), ('val', 1)):
        entries = _read_list(root / f'{split}_list.txt')
        assert len(entries) == per_class * num_classes
        labels = [label for _, label in entries]
        assert all(0 <= label < num_classes for label in labels)
        assert np.bincount(labels).tolist() == [per_class] * num_classes
        for rel_path, _ in entries:
            assert rel_path.endswith('.mp4')
            assert (root / 'videos' / rel_path).is_file(), rel_path
    assert summary['num_train'] == 2 * num_classes
    assert summary['num_val'] == num_classes
    assert summary['num_videos'] == 3 * num_classes


def test_decord_reads_videos(dataset):
    root, _ = dataset
    rel_path, label = _read_list(root / 'val_list.txt')[-1]
    reader = decord.VideoReader(str(root / 'videos' / rel_path))
    assert len(reader) == NUM_FRAMES
    assert reader[0].shape == (SIZE, SIZE, 3)
    assert check_videos(str(root), NUM_FRAMES, SIZE) == 3 * 8


def test_check_names_bad_file(dataset, tmp_path):
    root, _ = dataset
    # a list pointing at a video with the wrong number of frames
    (tmp_path / 'videos' / 'train').mkdir(parents=True)
    bad = tmp_path / 'videos' / 'train' / 'short.mp4'
    write_video(str(bad), generate_clip(0, 0, 12, SIZE))
    (tmp_path / 'train_list.txt').write_text('train/short.mp4 0\n')
    with pytest.raises(RuntimeError, match='short.mp4.*12 frames'):
        check_videos(str(tmp_path), NUM_FRAMES, splits=('train', ))


def test_encoding_roundtrip(tmp_path):
    clip = generate_clip(4, 11, NUM_FRAMES, 64)
    path = tmp_path / 'clip.mp4'
    write_video(str(path), clip, fps=8)
    decoded = read_video(str(path))
    assert decoded.shape == clip.shape
    err = np.abs(decoded.astype(np.float32) - clip.astype(np.float32))
    assert err.mean() < 10, err.mean()
    # the decoded video is closer to the clip than to its time reversal
    rev_err = np.abs(decoded.astype(np.float32) - clip[::-1])
    assert err.mean() < rev_err.mean()


def test_written_pair_videos_are_time_reversals(dataset):
    root, _ = dataset
    a = read_video(str(root / 'videos/train/moving_right/0001.mp4'))
    b = read_video(str(root / 'videos/train/moving_left/0001.mp4'))
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    assert np.abs(a - b[::-1]).mean() < 10
    assert np.abs(a - b[::-1]).mean() < np.abs(a - b).mean()


@pytest.mark.parametrize('even, odd', PAIRS)
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_pairs_are_exact_time_reversals(even, odd, seed):
    clip_even = generate_clip(even, seed, NUM_FRAMES, SIZE)
    clip_odd = generate_clip(odd, seed, NUM_FRAMES, SIZE)
    assert clip_even.shape == (NUM_FRAMES, SIZE, SIZE, 3)
    assert clip_even.dtype == np.uint8
    np.testing.assert_array_equal(clip_odd, clip_even[::-1])
    # the clip is not trivially time-symmetric
    assert not np.array_equal(clip_even, clip_even[::-1])
    # identical multiset of frames (sorted by content)
    def sorted_frames(clip):
        flat = clip.reshape(len(clip), -1)
        order = np.lexsort(flat.T[::-1])
        return flat[order]

    np.testing.assert_array_equal(
        sorted_frames(clip_even), sorted_frames(clip_odd))


def test_dataset_pairs_share_nuisance():
    for split in ('train', 'val'):
        for even, odd in PAIRS:
            a = generate_clip(even, clip_rng(5, split, even, 2),
                                  NUM_FRAMES, SIZE)
            b = generate_clip(odd, clip_rng(5, split, odd, 2),
                                  NUM_FRAMES, SIZE)
            np.testing.assert_array_equal(a, b[::-1])
    # different indices / splits get different nuisance
    a = generate_clip(0, clip_rng(5, 'train', 0, 0), NUM_FRAMES,
                          SIZE)
    b = generate_clip(0, clip_rng(5, 'train', 0, 1), NUM_FRAMES,
                          SIZE)
    c = generate_clip(0, clip_rng(5, 'val', 0, 0), NUM_FRAMES, SIZE)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _event_frames(clip):
    """Frames that differ strongly from the (static) background."""
    clip = clip.astype(np.float32)
    background = np.median(clip, axis=0)
    diff = np.abs(clip - background).max(axis=(1, 2, 3))
    return np.flatnonzero(diff > 60)


@pytest.mark.parametrize('num_frames', [16, 32])
@pytest.mark.parametrize('label', [6, 7])
def test_long_range_events_far_apart(label, num_frames):
    for seed in range(20):
        clip, meta = generate_clip(
            label, seed, num_frames, 64, return_meta=True)
        events = sorted(meta['events'], key=lambda e: e[1])
        assert len(events) == 2
        first, second = events
        assert second[1] - first[2] >= 8
        expected_order = ['square', 'circle'] if label == 6 else [
            'circle', 'square'
        ]
        assert [first[0], second[0]] == expected_order
        # check on the pixels: event frames form two runs >= 8 frames apart
        frames = _event_frames(clip)
        expected = list(range(first[1], first[2] + 1)) + list(
            range(second[1], second[2] + 1))
        assert frames.tolist() == expected
        assert 0 <= first[1] and second[2] < num_frames


def test_event_timing_symmetric_under_reversal():
    # start offsets of the first event (class 6) and of the reversed
    # class 7 have the same distribution (jitter drawn symmetrically)
    starts6, starts7 = [], []
    for seed in range(300):
        _, m6 = generate_clip(6, seed, NUM_FRAMES, SIZE, return_meta=True)
        _, m7 = generate_clip(7, seed, NUM_FRAMES, SIZE, return_meta=True)
        starts6.append(min(e[1] for e in m6['events']))
        starts7.append(min(e[1] for e in m7['events']))
    h6 = np.bincount(starts6, minlength=NUM_FRAMES)
    h7 = np.bincount(starts7, minlength=NUM_FRAMES)
    assert h6.sum() == h7.sum() == 300
    assert np.abs(h6 - h7).max() < 40


def test_same_seed_reproducible(tmp_path):
    kwargs = dict(
        num_frames=NUM_FRAMES, size=SIZE, train_per_class=1, val_per_class=1,
        seed=7)
    make_demo_dataset(str(tmp_path / 'a'), **kwargs)
    make_demo_dataset(str(tmp_path / 'b'), **kwargs)
    for name in ('train_list.txt', 'val_list.txt', 'classes.txt'):
        assert (tmp_path / 'a' / name).read_text() == (tmp_path / 'b' /
                                                       name).read_text()
    for label in range(8):
        rng_a = clip_rng(7, 'train', label, 0)
        rng_b = clip_rng(7, 'train', label, 0)
        np.testing.assert_array_equal(
            generate_clip(label, rng_a, NUM_FRAMES, SIZE),
            generate_clip(label, rng_b, NUM_FRAMES, SIZE))
    # a different seed changes the content
    assert not np.array_equal(
        generate_clip(0, clip_rng(7, 'train', 0, 0), NUM_FRAMES,
                          SIZE),
        generate_clip(0, clip_rng(8, 'train', 0, 0), NUM_FRAMES,
                          SIZE))


def test_translation_covers_all_positions():
    # toroidal motion with uniform start: object x position of the first frame
    # is spread over the whole width for both moving right and moving left
    for label in (0, 1):
        xs = []
        for seed in range(200):
            clip = generate_clip(label, seed, NUM_FRAMES, 64)
            first = clip[0].astype(np.float32)
            col_energy = np.abs(first - np.median(first, axis=(0, 1))).sum(
                axis=(0, 2))
            xs.append(int(np.argmax(col_energy)) // 16)
        assert set(xs) == {0, 1, 2, 3}


def test_invalid_arguments():
    with pytest.raises(ValueError):
        generate_clip(8, 0)
    with pytest.raises(ValueError):
        generate_clip(0, 0, num_frames=8)
