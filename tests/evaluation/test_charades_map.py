"""CharadesMAP against sklearn and the 25-frame protocol by hand."""
import numpy as np
import torch
from sklearn.metrics import average_precision_score

from mmdtf.evaluation import CharadesMAP, evaluation_times, per_class_ap


def test_per_class_ap_equals_sklearn():
    rng = np.random.RandomState(0)
    scores = rng.rand(200, 6)
    labels = (rng.rand(200, 6) < [0.02, 0.1, 0.3, 0.5, 0.05, 0.0]).astype(int)
    ours = per_class_ap(scores, labels)
    for c in range(5):
        expected = average_precision_score(labels[:, c], scores[:, c])
        assert abs(ours[c] - expected) < 1e-12
    assert np.isnan(ours[5])  # no positives: left out of the mean


def test_metric_reads_25_equally_spaced_frames():
    # two videos; class 0 on in [2, 4] s of a 10 s video, class 1 on the
    # whole 5 s video. Scores are linear in time, so interpolation is exact.
    rng = np.random.RandomState(1)
    metric = CharadesMAP()
    videos = []
    for duration, actions in ((10.0, [(0, 2.0, 4.0)]), (5.0, [(1, 0, 5.0)])):
        times = np.linspace(0, duration, 9)
        a, b = rng.rand(2, 3)
        scores = a[:, None] * times[None] + b[:, None]  # (3, 9)
        videos.append((duration, actions, a, b))
        metric.process(None, [dict(pred_frame_scores=torch.tensor(scores),
                                   frame_times=times, duration=duration,
                                   actions=actions)])
    got = metric.compute_metrics(metric.results)
    rows_s, rows_y = [], []
    for duration, actions, a, b in videos:
        for j in range(25):
            t = j * duration / 25
            rows_s.append(a * t + b)
            rows_y.append([any(c == k and s <= t <= e for k, s, e in actions)
                           for c in range(3)])
    s, y = np.array(rows_s), np.array(rows_y, int)
    expected = np.mean([average_precision_score(y[:, c], s[:, c])
                        for c in range(2)])
    assert abs(got['mAP'] - expected) < 1e-12
    assert got['classes_with_positives'] == 2
    np.testing.assert_allclose(evaluation_times(10.0)[:3], [0, 0.4, 0.8])
