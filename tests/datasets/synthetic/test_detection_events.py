"""The Coarse-Fine demo's dataset (mmdtf.datasets.synthetic.detection_events):
fixed seed, sparse multi-label events, and CSVs that CharadesDataset turns
back into the drawn events."""
import numpy as np

from mmdtf.datasets import CharadesDataset, SampleDetectionFrames
from mmdtf.datasets.synthetic import detection_events as gen


def test_same_seed_same_data_and_events_round_trip(tmp_path):
    stats = gen.make_detection_demo_dataset(tmp_path / 'a', num_train=6,
                                            num_val=2)
    gen.make_detection_demo_dataset(tmp_path / 'b', num_train=6, num_val=2)
    assert (tmp_path / 'a/train.csv').read_text() == \
        (tmp_path / 'b/train.csv').read_text()
    assert stats['empty_frames'] > stats['frames'] / 2  # most frames empty
    ds = CharadesDataset(str(tmp_path / 'a/train.csv'), [], num_classes=4,
                         data_prefix=dict(img=str(tmp_path / 'a/rgb')),
                         filename_tmpl='{video_id}-{:06d}.png')
    # redraw video 0 with the generator's own stream: its events must be
    # exactly the frames CharadesDataset labels
    rng = np.random.RandomState(0)
    video, events = gen.draw_video(rng, 32, 8, 4)
    info = ds.get_data_info(0)
    assert info['total_frames'] == 32
    labels = SampleDetectionFrames(32, test_mode=True)(info)['frame_labels']
    expected = np.zeros((4, 32), np.float32)
    for c, first, last in events:
        expected[c, first:last + 1] = 1
        assert (video[first:last + 1] == gen.COLOURS[c]).all(-1).any()
    np.testing.assert_array_equal(labels, expected)
