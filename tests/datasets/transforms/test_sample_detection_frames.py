"""SampleDetectionFrames: the training clip and the test clip."""
import numpy as np
import pytest

from mmdtf.datasets import SampleDetectionFrames

# a video as CharadesDataset describes it: 40 frames in 4 s
VIDEO = dict(total_frames=40, fps=10.0, num_classes=157,
             actions=[(92, 1.0, 2.0), (147, 0.0, 0.5)])


def test_train_clip_is_strided_window():
    out = SampleDetectionFrames(clip_len=4, frame_interval=3)(dict(VIDEO))
    inds = out['sampled_frames']
    assert np.all(np.diff(inds) == 3) and 0 <= inds[0] and inds[-1] < 40


def test_test_clip_is_the_whole_video_at_the_training_frame_rate():
    # 40 frames, every 3rd: 0 3 ... 39, the training clip's rate
    out = SampleDetectionFrames(clip_len=4, frame_interval=3,
                                test_mode=True)(dict(VIDEO))
    np.testing.assert_array_equal(out['sampled_frames'], np.arange(0, 40, 3))
    assert out['clip_len'] == 14 and out['frame_labels'].shape == (157, 14)
    np.testing.assert_allclose(out['frame_times'], np.arange(0, 40, 3) / 10)
    # c092 is on from 1.0 to 2.0 s: frames 12, 15, 18
    np.testing.assert_array_equal(np.flatnonzero(out['frame_labels'][92]),
                                  [4, 5, 6])


def test_spread_test_clip_is_clip_len_frames_over_the_video():
    out = SampleDetectionFrames(clip_len=4, frame_interval=3, test_mode=True,
                                test_sampling='spread')(dict(VIDEO))
    np.testing.assert_array_equal(out['sampled_frames'], [0, 13, 26, 39])
    assert out['clip_len'] == 4


def test_bad_test_sampling_is_named():
    with pytest.raises(ValueError, match="test_sampling.*'middle'"):
        SampleDetectionFrames(clip_len=4, test_sampling='middle')
