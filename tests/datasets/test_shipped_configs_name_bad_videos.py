"""Every shipped video config reads its data with CheckedVideoDataset, so a
bad video is named by file and annotation line in what `mim train` prints."""
from pathlib import Path

import pytest
from mmengine.config import Config

import helpers

CONFIGS = [p for p in sorted((helpers.REPO / 'configs').rglob('*.py'))
           if '_base_' not in p.parts]


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.name)
def test_every_video_config_uses_checked_dataset(config):
    cfg = Config.fromfile(str(config))
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        if loader.dataset.type == 'CharadesDataset':
            continue  # frame folders; it names a bad CSV row itself
        if loader.dataset.type == 'RawframeDataset':
            # Something-Something V1 ships as extracted frames, not videos.
            assert 'sthv1' in config.name
            continue
        assert loader.dataset.type == 'CheckedVideoDataset', (
            f'{config.name} {split}_dataloader')


@pytest.mark.slow  # `mim train` in a subprocess
def test_mim_train_on_demo_config_names_truncated_video(tmp_path):
    root = tmp_path / 'data'
    helpers.make_demo_data(root, train_per_class=1, val_per_class=1)
    good = sorted((root / 'videos').glob('train/*/*.mp4'))[0].read_bytes()
    (root / 'videos' / 'cut.mp4').write_bytes(good[:len(good) // 2])
    ann = root / 'train_list.txt'
    lines = ann.read_text().splitlines() + ['cut.mp4 3']
    ann.write_text('\n'.join(lines) + '\n')
    options = [f'train_dataloader.dataset.ann_file={ann}',
               f'train_dataloader.dataset.data_prefix.video={root}/videos',
               f'val_dataloader.dataset.ann_file={root}/val_list.txt',
               f'val_dataloader.dataset.data_prefix.video={root}/videos',
               'train_dataloader.batch_size=3',
               'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               'train_cfg.max_epochs=1', 'train_cfg.val_begin=2']
    result = helpers.run(
        ['mim', 'train', 'mmaction2', str(helpers.DEMO_CONFIG), '--gpus',
         '0', '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         *options], tmp_path / 'train.log', check=False)
    assert result.returncode != 0
    assert 'BadVideoError' in result.stdout
    assert f'{root}/videos/cut.mp4' in result.stdout
    assert f'line 9 of {ann}' in result.stdout, helpers.tail(
        tmp_path / 'train.log')
