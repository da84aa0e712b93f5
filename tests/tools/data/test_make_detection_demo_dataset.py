"""tools/data/make_detection_demo_dataset.py: the dataset at the given root,
its frame counts printed."""
import helpers


def test_main_writes_and_prints(tmp_path, capsys):
    helpers.load_tool('data/make_detection_demo_dataset').main(
        [str(tmp_path), '--seed', '1'])
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path}: {{'frames': {48 * 32}, ")
    rows = (tmp_path / 'train.csv').read_text().splitlines()
    assert len(rows) == 1 + 32 and rows[1].startswith('T0000,')
    assert len(list((tmp_path / 'rgb' / 'V0015').glob('*.png'))) == 32
