"""Charades localisation mAP (``Charades_v1_localize``): scores at 25
equally spaced times per video, per-class AP over all those frames,
averaged over classes."""
from typing import List, Sequence

import numpy as np
from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric

from ..structures import frame_targets


def per_class_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, C) scores and 0/1 labels -> (C,) AP as the official script
    computes it: mean of the precision at each positive, frames ranked by
    score; NaN for a class without positives."""
    aps = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        order = np.argsort(-scores[:, c], kind='stable')
        hits = labels[order, c] > 0
        if hits.any():
            precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
            aps[c] = precision[hits].mean()
    return aps


def evaluation_times(duration: float, frames_per_video: int = 25):
    """Frame j of the protocol is at ``j / frames_per_video * duration``."""
    return np.arange(frames_per_video) / frames_per_video * duration


@METRICS.register_module()
class CharadesMAP(BaseMetric):
    """Per-frame mAP of the Charades localisation setting.

    Each video's ``pred_frame_scores`` (C, T), known at its ``frame_times``,
    are read (linearly interpolated) at the protocol's 25 times, where the
    ground truth is built from its ``actions``. ``mAP`` averages the classes
    that have positives (the official script averages all 157, which all
    have positives on Charades).
    """
    default_prefix = 'charades'

    def __init__(self, frames_per_video: int = 25,
                 collect_device: str = 'cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.frames_per_video = frames_per_video

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            scores = np.asarray(ds['pred_frame_scores'].cpu(), np.float64)
            times = evaluation_times(ds['duration'], self.frames_per_video)
            read = np.stack([np.interp(times, ds['frame_times'], s)
                             for s in scores], axis=1)
            labels = frame_targets(ds['actions'], times, scores.shape[0]).T
            self.results.append((read, labels))

    def compute_metrics(self, results: List) -> dict:
        scores = np.concatenate([r[0] for r in results])
        labels = np.concatenate([r[1] for r in results])
        aps = per_class_ap(scores, labels)
        return dict(mAP=float(np.nanmean(aps)),
                    classes_with_positives=int(np.isfinite(aps).sum()))
