"""Charades' per-frame mAP (``Charades_v1_localize``) written as literally as
possible: the oracle of the CharadesMAP tests and of the Coarse-Fine run
tests, which recompute the mAP from the scores they dumped.

Shares no code with ``mmdtf.evaluation``: plain Python loops and lists.
"""
from typing import List, Sequence


def official_ap(conf: Sequence[float], labels: Sequence[int]) -> float:
    """The official script's ``THUMOSeventclspr``: frames ranked by
    ``sort(-conf)`` (MATLAB's sort is stable: tied frames keep their input
    order), AP = mean of the precision at each positive."""
    order = sorted(range(len(conf)), key=lambda i: -conf[i])  # stable
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if labels[i] == 1:
            hits += 1
            total += hits / rank
    return total / hits


def score_at(t: float, times: Sequence[float], scores: Sequence[float]):
    """Scores known at increasing ``times``, read linearly at ``t`` (held
    constant before the first and after the last)."""
    if t <= times[0]:
        return scores[0]
    for k in range(1, len(times)):
        if t <= times[k]:
            a = (t - times[k - 1]) / (times[k] - times[k - 1])
            return (1 - a) * scores[k - 1] + a * scores[k]
    return scores[-1]


def charades_map(videos: List[dict], frames_per_video: int = 25) -> float:
    """mAP over the classes with positives; each video a dict with
    ``pred_frame_scores`` (classes x frames), ``frame_times``, ``duration``
    and ``actions`` [(class, start, end)]: frame j of the protocol is at
    ``j / frames_per_video * duration``, class c on there if
    ``start <= t <= end`` for one of its actions."""
    columns, truth = [], []
    for video in videos:
        scores = [list(map(float, row)) for row in video['pred_frame_scores']]
        times = list(map(float, video['frame_times']))
        for j in range(frames_per_video):
            t = j / frames_per_video * video['duration']
            columns.append([score_at(t, times, row) for row in scores])
            truth.append([int(any(c == k and s <= t <= e
                                  for k, s, e in video['actions']))
                          for c in range(len(scores))])
    aps = []
    for c in range(len(columns[0])):
        labels = [row[c] for row in truth]
        if any(labels):
            aps.append(official_ap([row[c] for row in columns], labels))
    return sum(aps) / len(aps)
