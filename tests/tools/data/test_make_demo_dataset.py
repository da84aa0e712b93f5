"""tools/data/make_demo_dataset.py: its arguments reach the writer, and it
prints one summary line."""
import helpers


def test_main_prints_summary(tmp_path, capsys):
    root = tmp_path / 'demo'
    helpers.load_tool('data/make_demo_dataset').main([
        '--root',
        str(root), '--num-frames', '12', '--size', '32', '--train-per-class',
        '1', '--val-per-class', '1', '--check'
    ])
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    assert str(root) in out and 'videos=16' in out and 'moving_right' in out
    assert '12 frames 32x32' in out and '[checked]' in out
    assert len((root / 'train_list.txt').read_text().splitlines()) == 8
