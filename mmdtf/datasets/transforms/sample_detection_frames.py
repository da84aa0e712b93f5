"""Frame sampling with per-frame targets, and fine-feature loading, for
per-frame activity detection (Coarse-Fine Networks)."""
import os.path as osp

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from mmdtf.structures import FINE_LEVELS, frame_targets


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


@TRANSFORMS.register_module()
class LoadFineFeatures(BaseTransform):
    """Reads ``fine_feature_file`` (``tools/extract_fine_features.py``):
    ``fine_feats`` (one (C, Tf, h, w) array per level of FINE_LEVELS) and
    ``clip_span`` (the clip's first frame and first-to-last span, in
    fine-feature frames, for the Gaussian alignment)."""

    def transform(self, results: dict) -> dict:
        path = results.get('fine_feature_file')
        if path is None:
            raise KeyError('no fine_feature_file: set the dataset\'s '
                           'fine_feature_prefix (folder of <id>.npz)')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'fine features {path} not found for video '
                f'{results.get("video_id")}; run '
                'tools/extract_fine_features.py or fix fine_feature_prefix')
        with np.load(path) as f:
            missing = [k for k in FINE_LEVELS + ('stride', ) if k not in f]
            if missing:
                raise KeyError(f'{path} lacks {missing}')
            feats = [f[k].astype(np.float32) for k in FINE_LEVELS]
            stride = float(f['stride'])
        inds = results['sampled_frames']
        results['fine_feats'] = feats
        results['clip_span'] = np.array(
            [inds[0] / stride, (inds[-1] - inds[0]) / stride], np.float32)
        return results
