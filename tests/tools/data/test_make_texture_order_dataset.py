"""tools/data/make_texture_order_dataset.py: its arguments reach the writer,
and it prints one summary line."""
import helpers


def test_main_prints_summary(tmp_path, capsys):
    root = tmp_path / 'textures'
    helpers.load_tool('data/make_texture_order_dataset').main([
        '--root', str(root), '--train-per-class', '1', '--val-per-class',
        '1', '--seed', '3', '--check'])
    out = capsys.readouterr().out.strip()
    assert out.startswith(f'texture order dataset: {root}, 6 train / 6 val '
                          'videos, 6 classes')
    assert len((root / 'val_list.txt').read_text().splitlines()) == 6
