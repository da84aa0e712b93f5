"""Loading of the fine stream's pre-extracted features (Coarse-Fine
Networks' Multi-stage Fusion)."""
import os.path as osp

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from mmdtf.structures import read_fine_features


@TRANSFORMS.register_module()
class LoadFineFeatures(BaseTransform):
    """Reads ``fine_feature_file`` (``tools/data/extract_fine_features.py``):
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
                f'{results.get("video_id")}; run tools/data/'
                'extract_fine_features.py or fix fine_feature_prefix')
        feats, stride = read_fine_features(path)
        inds = results['sampled_frames']
        results['fine_feats'] = feats
        results['clip_span'] = np.array(
            [inds[0] / stride, (inds[-1] - inds[0]) / stride], np.float32)
        return results
