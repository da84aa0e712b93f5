"""CharadesMAP against sklearn and the 25-frame protocol by hand."""
import numpy as np
import torch
from sklearn.metrics import average_precision_score

from mmdtf.evaluation import CharadesMAP, evaluation_times, per_class_ap
from naive_charades_map import charades_map, official_ap  # tests/


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


def test_tied_scores_keep_their_input_order_as_the_official_script():
    # Charades_v1_localize ranks by MATLAB's stable sort(-conf): tied frames
    # stay in input order (sklearn would rank a tied group as one)
    rng = np.random.RandomState(2)
    scores = rng.randint(0, 4, (200, 3)) / 4  # four values: many ties
    labels = (rng.rand(200, 3) < 0.3).astype(int)
    ours = per_class_ap(scores, labels)
    for c in range(3):
        assert abs(ours[c] - official_ap(scores[:, c], labels[:, c])) < 1e-12
    # all tied, the positives last: the i-th positive is ranked 20 + i
    labels = np.r_[np.zeros(20, int), np.ones(10, int)][:, None]
    expected = np.mean([i / (20 + i) for i in range(1, 11)])
    assert abs(per_class_ap(np.full((30, 1), 0.5), labels)[0] -
               expected) < 1e-12


def test_metric_equals_the_official_computation_on_random_videos():
    rng = np.random.RandomState(3)
    metric = CharadesMAP()
    videos = []
    for i in range(5):
        duration = 4 + 10 * rng.rand()
        times = np.sort(rng.rand(rng.randint(5, 30))) * duration
        actions = [(int(rng.randint(4)), s, s + 3 * rng.rand())
                   for s in rng.rand(3) * duration]
        video = dict(pred_frame_scores=torch.tensor(rng.rand(4, len(times))),
                     frame_times=times, duration=duration, actions=actions)
        videos.append(video)
        metric.process(None, [video])
    got = metric.compute_metrics(metric.results)['mAP']
    assert abs(got - charades_map(videos)) < 1e-12
