"""The fine-feature file: written and read back level by level, never left
half-written, and a file without a level named."""
import numpy as np
import pytest

from mmdtf.structures import (FINE_LEVELS, frame_targets,
                              read_fine_features, write_fine_features)


def test_write_then_read_gives_the_levels_in_order(tmp_path):
    path = str(tmp_path / 'v.npz')
    rng = np.random.RandomState(0)
    levels = [rng.randn(c, 5, 2, 2) for c in (3, 4, 5, 6, 7)]
    write_fine_features(path, levels, stride=10)
    got, stride = read_fine_features(path)
    assert stride == 10.0 and [g.dtype for g in got] == [np.float32] * 5
    for g, level in zip(got, levels):  # stored as float16
        np.testing.assert_array_equal(g, level.astype(np.float16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['v.npz']


def test_wrong_level_count_and_missing_level_are_named(tmp_path):
    path = str(tmp_path / 'v.npz')
    with pytest.raises(ValueError, match='4 levels given, expected 5'):
        write_fine_features(path, [np.zeros((1, 2, 1, 1))] * 4, stride=1)
    np.savez(path, stride=1, **{k: np.zeros((1, 2, 1, 1))
                                for k in FINE_LEVELS[:-1]})
    with pytest.raises(KeyError, match="lacks \\['conv5'\\]"):
        read_fine_features(path)


def test_frame_targets_follow_the_inclusive_charades_rule():
    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    labels = frame_targets([(1, 0.5, 1.5), (0, 2.0, 2.0)], times, 3)
    np.testing.assert_array_equal(labels, [[0, 0, 0, 0, 1], [0, 1, 1, 1, 0],
                                           [0, 0, 0, 0, 0]])
