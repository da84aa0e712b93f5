"""The natural-picture order dataset (mmdtf.datasets.synthetic.texture_order):
the classes of a pair are exact time reversals of each other, and the
bright and dark events of the long-range pair lie 8 or more frames apart."""
import numpy as np
import pytest

from mmdtf.datasets.synthetic import texture_order

NUM_FRAMES, SIZE = 16, 32


@pytest.mark.parametrize('even', [0, 2, 4])
def test_pairs_are_exact_time_reversals(even):
    for seed in range(3):
        clip = texture_order.generate_clip(even, seed, NUM_FRAMES, SIZE)
        reversed_clip = texture_order.generate_clip(even + 1, seed,
                                                    NUM_FRAMES, SIZE)
        assert clip.shape == (NUM_FRAMES, SIZE, SIZE, 3)
        assert clip.dtype == np.uint8
        np.testing.assert_array_equal(reversed_clip, clip[::-1])
        assert not np.array_equal(clip, clip[::-1])  # it moves


def test_long_range_events_far_apart():
    """The events drawn on a flat grey clip, found on the pixels: a run of
    2-3 brightened frames, then 8 or more frames later a run of 2-3
    darkened ones."""
    for seed in range(50):
        flat = np.full((NUM_FRAMES, SIZE, SIZE, 3), 0.5, np.float32)
        clip = texture_order._add_events(flat.copy(),
                                         np.random.default_rng(seed))
        bright = np.flatnonzero((clip > 0.5).any(axis=(1, 2, 3)))
        dark = np.flatnonzero((clip < 0.5).any(axis=(1, 2, 3)))
        for run in (bright, dark):
            assert 2 <= len(run) <= 3 and np.all(np.diff(run) == 1), seed
        assert dark[0] - bright[-1] - 1 >= texture_order.MIN_EVENT_GAP


def test_too_few_frames_is_refused():
    with pytest.raises(ValueError, match='num_frames=10'):
        texture_order.generate_clip(0, 0, 10, SIZE)
