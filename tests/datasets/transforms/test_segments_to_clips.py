"""SegmentsToClips after MMAction2's SampleFrames: 10 clips of T segments,
each over the whole video (TCPNet's ten_clips_sample)."""
import numpy as np
import pytest
from mmaction.datasets.transforms import SampleFrames

from mmdtf.datasets.transforms import SegmentsToClips


def test_ten_clips_of_eight_segments_cover_the_video():
    total, t, k = 160, 8, 10
    results = SampleFrames(clip_len=1, num_clips=t * k, test_mode=True)(
        dict(total_frames=total, start_index=0))
    sampled = results['frame_inds'].copy()
    frames = SegmentsToClips(num_segments=t)(results)['frame_inds']
    clips = frames.reshape(k, t)
    segment = total // t
    for c in range(k):
        # one frame in each of the 8 segments, in order, at offset
        # (c + 0.5) * total / 80 into its segment
        assert list(clips[c] // segment) == list(range(t))
        expected = [s * segment + int((c + 0.5) * total / (t * k))
                    for s in range(t)]
        assert list(clips[c]) == expected
    assert sorted(frames) == sorted(sampled)  # the same frames, regrouped


def test_one_clip_is_unchanged():
    inds = np.arange(8)
    out = SegmentsToClips(num_segments=8)(dict(frame_inds=inds.copy()))
    np.testing.assert_array_equal(out['frame_inds'], inds)


def test_wrong_count_names_the_setting():
    with pytest.raises(ValueError, match='num_clips = num_segments'):
        SegmentsToClips(num_segments=8)(dict(frame_inds=np.arange(12)))
