"""CharadesDataset: official CSV -> per-frame targets; errors name the row."""
import numpy as np
import pytest

from mmdtf.datasets import CharadesDataset, SampleDetectionFrames

HEADER = ('id,subject,scene,quality,relevance,verified,script,objects,'
          'descriptions,actions,length\n')


def write(tmp_path, rows, frames=None):
    ann = tmp_path / 'Charades_v1_test.csv'
    ann.write_text(HEADER + ''.join(rows))
    for vid, n in (frames or {}).items():
        d = tmp_path / 'rgb' / vid
        d.mkdir(parents=True)
        for i in range(1, n + 1):
            (d / f'{vid}-{i:06d}.jpg').write_bytes(b'')
    return ann


ROW = ('46GP8,HR43,Kitchen,6,7,Yes,"A person, cooking.",food;stove,'
       '"A person cooks.",c092 1.00 2.00;c147 0.00 0.50,4.00\n')


def test_csv_row_to_per_frame_targets(tmp_path):
    ann = write(tmp_path, [ROW], {'46GP8': 8})  # 8 frames in 4 s: 2 fps
    ds = CharadesDataset(str(ann), [], data_prefix=dict(img=str(
        tmp_path / 'rgb')), test_mode=True)
    info = ds.get_data_info(0)
    assert info['actions'] == [(92, 1.0, 2.0), (147, 0.0, 0.5)]
    assert info['fps'] == 2.0 and info['total_frames'] == 8
    assert info['filename_tmpl'].format(3) == '46GP8-000003.jpg'
    out = SampleDetectionFrames(clip_len=8, test_mode=True)(info)
    np.testing.assert_array_equal(out['frame_inds'], np.arange(1, 9))
    # frame i is at i / 2 s: c092 on at 1.0, 1.5, 2.0 s; c147 at 0, 0.5 s
    expected = np.zeros((157, 8), np.float32)
    expected[92, [2, 3, 4]] = 1
    expected[147, [0, 1]] = 1
    np.testing.assert_array_equal(out['frame_labels'], expected)


@pytest.mark.parametrize('actions,match', [
    ('c092 1.00', "'c092 1.00' is not 'cNNN start end'"),
    ('x092 1.0 2.0', "is not 'cNNN start end'"),
    ('c200 1.0 2.0', 'outside num_classes=157'),
    ('c001 3.0 2.0', 'ends before it starts'),
])
def test_malformed_actions_name_the_row(tmp_path, actions, match):
    bad = ROW.replace('c092 1.00 2.00;c147 0.00 0.50', actions)
    ann = write(tmp_path, [ROW, bad], {'46GP8': 8})
    with pytest.raises(ValueError, match=match) as err:
        CharadesDataset(str(ann), [], data_prefix=dict(img=str(
            tmp_path / 'rgb')))
    assert 'line 3' in str(err.value) and '46GP8' in str(err.value)


def test_bad_length_and_missing_frames(tmp_path):
    ann = write(tmp_path, [ROW.replace(',4.00\n', ',four\n')], {'46GP8': 8})
    with pytest.raises(ValueError, match="line 2.*length 'four'"):
        CharadesDataset(str(ann), [], data_prefix=dict(img=str(
            tmp_path / 'rgb')))
    ann = write(tmp_path, [ROW.replace('46GP8', 'NOFRM')])
    with pytest.raises(FileNotFoundError, match='NOFRM.*data_prefix.img'):
        CharadesDataset(str(ann), [], data_prefix=dict(img=str(
            tmp_path / 'rgb')))
