"""LoadFineFeatures: the levels, the clip's place on the fine time axis,
and a missing file named."""
import numpy as np
import pytest

from mmdtf.datasets import LoadFineFeatures


def test_missing_file_names_the_tool(tmp_path):
    with pytest.raises(FileNotFoundError, match='extract_fine_features'):
        LoadFineFeatures()(dict(fine_feature_file=str(tmp_path / 'x.npz'),
                                video_id='x'))


def test_fine_features_and_clip_span(tmp_path):
    path = tmp_path / 'v.npz'
    levels = {k: np.ones((2, 5, 1, 1), np.float16) for k in
              ('layer1', 'layer2', 'layer3', 'layer4', 'conv5')}
    np.savez(path, stride=4, **levels)
    out = LoadFineFeatures()(dict(fine_feature_file=str(path),
                                  sampled_frames=np.array([8, 12, 16, 20])))
    np.testing.assert_array_equal(out['clip_span'], [2.0, 3.0])
    assert len(out['fine_feats']) == 5 and out['fine_feats'][0].dtype == \
        np.float32
