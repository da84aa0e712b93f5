"""Frame sampling with per-frame targets for per-frame activity detection
(Coarse-Fine Networks on Charades)."""
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from mmdtf.structures import frame_targets


@TRANSFORMS.register_module()
class SampleDetectionFrames(BaseTransform):
    """One clip of ``clip_len`` frames, ``frame_interval`` apart, at a random
    start (training), or ``clip_len`` frames evenly spread over the whole
    video (testing, and training videos shorter than the clip), with its
    per-frame targets ``frame_labels`` (num_classes, clip_len) and the
    times of its frames ``frame_times`` (seconds).
    """

    def __init__(self, clip_len: int, frame_interval: int = 1,
                 test_mode: bool = False):
        if clip_len < 2:
            raise ValueError(f'clip_len must be >= 2, got {clip_len}')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.test_mode = test_mode

    def transform(self, results: dict) -> dict:
        total = results['total_frames']
        span = (self.clip_len - 1) * self.frame_interval
        if self.test_mode or total <= span:
            inds = np.round(np.linspace(0, total - 1, self.clip_len))
        else:
            start = np.random.randint(0, total - span)
            inds = start + np.arange(self.clip_len) * self.frame_interval
        inds = inds.astype(np.int64)
        times = inds / results['fps']
        results['sampled_frames'] = inds
        results['frame_inds'] = inds + results.get('start_index', 0)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = 1
        results['frame_times'] = times
        results['frame_labels'] = frame_targets(results['actions'], times,
                                                results['num_classes'])
        return results
