"""Frame sampling with per-frame targets for per-frame activity detection
(Coarse-Fine Networks on Charades)."""
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from mmdtf.structures import frame_targets


@TRANSFORMS.register_module()
class SampleDetectionFrames(BaseTransform):
    """One clip with its per-frame targets ``frame_labels`` (num_classes,
    frames) and the times of its frames ``frame_times`` (seconds).

    Training: ``clip_len`` frames ``frame_interval`` apart at a random start
    (``clip_len`` frames evenly spread over videos shorter than that).
    Testing (``test_mode``), by ``test_sampling``:

    * ``'interval'`` (default): every ``frame_interval``-th frame of the
      whole video, i.e. at the training frame rate, as the public code tests
      (whole videos at stride 10). The clip's length varies with the video's:
      test with ``batch_size=1``.
    * ``'spread'``: ``clip_len`` frames evenly spread over the whole video
      (one clip shape for every video, but a long video is seen at a lower
      frame rate than training used; docs/models/coarse_fine.md measures
      the cost).
    """
    TEST_SAMPLINGS = ('interval', 'spread')

    def __init__(self, clip_len: int, frame_interval: int = 1,
                 test_mode: bool = False, test_sampling: str = 'interval'):
        if clip_len < 2:
            raise ValueError(f'clip_len must be >= 2, got {clip_len}')
        if test_sampling not in self.TEST_SAMPLINGS:
            raise ValueError(
                f'SampleDetectionFrames test_sampling must be one of '
                f'{self.TEST_SAMPLINGS}, got {test_sampling!r}')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.test_mode = test_mode
        self.test_sampling = test_sampling

    def transform(self, results: dict) -> dict:
        total = results['total_frames']
        span = (self.clip_len - 1) * self.frame_interval
        if self.test_mode and self.test_sampling == 'interval':
            inds = np.arange(0, total, self.frame_interval)
            if len(inds) < 2:  # a video shorter than two intervals
                inds = np.round(np.linspace(0, total - 1, 2))
        elif self.test_mode or total <= span:
            inds = np.round(np.linspace(0, total - 1, self.clip_len))
        else:
            start = np.random.randint(0, total - span)
            inds = start + np.arange(self.clip_len) * self.frame_interval
        inds = inds.astype(np.int64)
        times = inds / results['fps']
        results['sampled_frames'] = inds
        results['frame_inds'] = inds + results.get('start_index', 0)
        results['clip_len'] = len(inds)
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = 1
        results['frame_times'] = times
        results['frame_labels'] = frame_targets(results['actions'], times,
                                                results['num_classes'])
        return results
