"""run_demo's progress while `mim` runs: MMEngine's log lines parsed as they
stream, one progress line (not one per log line), the log's path printed,
everything written to the log. A canned stream stands in for `mim`. (The
progress line itself: tests/utils/test_progress.py.)"""
import sys

import helpers
from mmdtf.utils.progress import describe, parse_mmengine_line

TRAIN = ('2026/11/30 10:27:46 - mmengine - INFO - Epoch(train)  [1][30/40]  '
         'lr: 2.3077e-03  eta: 4:14:57  time: 20.4985  data_time: 0.0515  '
         'grad_norm: 13.8030  loss: 1.7196  top1_acc: 0.5000  loss_cls: 1.7')
TEST = ('2026/11/30 11:02:01 - mmengine - INFO - Epoch(test) [ 40/240]    '
        'eta: 0:01:12  time: 0.3617  data_time: 0.0101  memory: 0')
VAL = 'x - mmengine - INFO - Epoch(val)  [25][ 5/10]    eta: 0:00:03'


def test_parse_mmengine_lines():
    assert parse_mmengine_line(TRAIN) == dict(
        mode='train', epoch=1, iter=30, total=40, eta='4:14:57',
        loss='1.7196')
    assert parse_mmengine_line(TEST) == dict(mode='test', epoch=None,
                                             iter=40, total=240,
                                             eta='0:01:12')
    assert parse_mmengine_line(VAL)['epoch'] == 25
    assert parse_mmengine_line('Checkpoints will be saved to x.') is None
    assert describe(parse_mmengine_line(TRAIN)) == (
        'train epoch 1, iter 30/40, loss 1.7196, eta 4:14:57')
    assert describe(parse_mmengine_line(TEST), 5) == 'test 40/240, eta 0:01:12'


def canned_mim(lines):
    code = 'import sys, time\nfor l in {!r}:\n    print(l, flush=True)\n' \
           '    time.sleep(0.01)\n'.format(lines)
    return [sys.executable, '-c', code]


def test_run_streams_progress_and_log(tmp_path, capsys):
    tool = helpers.load_tool('run_demo')
    lines = ['noise line'] * 50 + [
        TRAIN.replace('[30/40]', f'[{i}/40]').replace('1.7196', f'1.{i:02d}')
        for i in range(10, 41, 10)]
    log = tmp_path / 'mim_train.log'
    output = tool.run(canned_mim(lines), log)
    assert output.splitlines() == lines
    assert log.read_text().splitlines() == lines
    printed = capsys.readouterr()
    assert f'  full log: {log}' in printed.out.splitlines()
    # Not a terminal: the first update, then (within 30 s) only the last.
    assert printed.err.splitlines() == [
        '  train epoch 1, iter 10/40, loss 1.10, eta 4:14:57',
        '  train epoch 1, iter 40/40, loss 1.40, eta 4:14:57']


def test_failed_command_names_log_and_tail(tmp_path):
    tool = helpers.load_tool('run_demo')
    cmd = [sys.executable, '-c', 'print("boom"); raise SystemExit(3)']
    try:
        tool.run(cmd, tmp_path / 'x.log')
    except SystemExit as err:
        assert 'exit 3' in str(err) and 'x.log' in str(err)
        assert 'boom' in str(err)
    else:
        raise AssertionError('no SystemExit')
