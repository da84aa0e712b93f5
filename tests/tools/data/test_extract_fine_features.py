"""tools/data/extract_fine_features.py: shapes, stride, resuming."""
import numpy as np
import pytest
import torch

import helpers

REPO = helpers.REPO
FINE = (REPO / 'configs/coarse_fine/'
        'x3d-m_fine-stream_1xb6-64x10x1-40e_charades-rgb.py')


def small_config(tmp_path):
    cfg = tmp_path / 'fine_small.py'
    cfg.write_text(
        f'_base_ = [{str(FINE)!r}]\n'
        'model = dict(backbone=dict(gamma_d=1), cls_head=dict(num_classes=4,'
        ' mid_channels=8))\n'
        'test_dataloader = dict(dataset=dict(num_classes=4, ann_file='
        f'{str(tmp_path / "ann.csv")!r}, data_prefix=dict(img='
        f'{str(tmp_path / "rgb")!r}), pipeline=['
        "dict(type='RawFrameDecode'), dict(type='Resize', scale=(-1, 36)),"
        "dict(type='CenterCrop', crop_size=32),"
        "dict(type='FormatShape', input_format='NCTHW')]))\n")
    return str(cfg)


def run(tool, cfg, out):
    torch.manual_seed(0)  # same random weights on every run
    tool.main([cfg, 'none', str(out), '--stride', '5', '--spatial-size', '2',
               '--device', 'cpu'])


def test_extracts_every_level_and_resumes(tmp_path, capsys):
    helpers.make_charades_like(tmp_path)
    tool = helpers.load_tool('data/extract_fine_features')
    cfg = small_config(tmp_path)
    out = tmp_path / 'features'
    run(tool, cfg, out)
    a = np.load(out / 'AAAAA.npz')
    assert int(a['stride']) == 5
    # 24 frames, every 5th: frames 0 5 10 15 20 -> Tf = 5
    assert [a[k].shape for k in ('layer1', 'layer2', 'layer3', 'layer4',
                                 'conv5')] == [
        (24, 5, 2, 2), (48, 5, 2, 2), (96, 5, 2, 2), (192, 5, 2, 2),
        (432, 5, 2, 2)]
    # interrupted run: one file missing, a stale partial file lying around
    first = {k: a[k].copy() for k in a.files}
    (out / 'AAAAA.npz').unlink()
    (out / 'AAAAA.part.npz').write_bytes(b'half')
    mtime = (out / 'BBBBB.npz').stat().st_mtime_ns
    capsys.readouterr()
    run(tool, cfg, out)
    assert '1 extracted, 1 already there' in capsys.readouterr().err
    assert (out / 'BBBBB.npz').stat().st_mtime_ns == mtime
    again = np.load(out / 'AAAAA.npz')
    for k, v in first.items():
        np.testing.assert_array_equal(again[k], v)


def test_backbone_without_forward_levels_is_named(tmp_path):
    helpers.make_charades_like(tmp_path)
    tool = helpers.load_tool('data/extract_fine_features')
    cfg = tmp_path / 'x3d.py'
    cfg.write_text(f'_base_ = [{small_config(tmp_path)!r}]\n'
                   "model = dict(backbone=dict(_delete_=True, type='X3D'))\n")
    with pytest.raises(TypeError, match='X3DCoarseFine'):
        run(tool, str(cfg), tmp_path / 'o')
