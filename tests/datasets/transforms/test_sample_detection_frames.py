"""SampleDetectionFrames: the training clip and the test clip."""
import numpy as np

from mmdtf.datasets import SampleDetectionFrames

# a video as CharadesDataset describes it: 40 frames in 4 s
VIDEO = dict(total_frames=40, fps=10.0, num_classes=157,
             actions=[(92, 1.0, 2.0), (147, 0.0, 0.5)])


def test_train_clip_is_strided_window():
    out = SampleDetectionFrames(clip_len=4, frame_interval=3)(dict(VIDEO))
    inds = out['sampled_frames']
    assert np.all(np.diff(inds) == 3) and 0 <= inds[0] and inds[-1] < 40
