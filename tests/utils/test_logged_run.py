"""mmdtf.utils.logged_run (the demos' `mim` runs): MMEngine's log lines
parsed as they stream, one progress line (not one per log line), the log's
path printed, everything written to the log; a failure names the exit
status, the log and its tail. A canned stream stands in for `mim`."""
import sys

from mmdtf.utils.logged_run import logged_run

TRAIN = ('2026/11/30 10:27:46 - mmengine - INFO - Epoch(train)  [1][30/40]  '
         'lr: 2.3077e-03  eta: 4:14:57  time: 20.4985  loss: 1.7196')

def canned_mim(lines):
    code = 'import sys, time\nfor l in {!r}:\n    print(l, flush=True)\n' \
           '    time.sleep(0.01)\n'.format(lines)
    return [sys.executable, '-c', code]


def test_run_streams_progress_and_log(tmp_path, capsys):
    lines = ['noise line'] * 50 + [
        TRAIN.replace('[30/40]', f'[{i}/40]').replace('1.7196', f'1.{i:02d}')
        for i in range(10, 41, 10)]
    log = tmp_path / 'mim_train.log'
    output = logged_run(canned_mim(lines), log)
    assert output.splitlines() == lines
    assert log.read_text().splitlines() == lines
    printed = capsys.readouterr()
    assert f'  full log: {log}' in printed.out.splitlines()
    # Not a terminal: the first update, then (within 30 s) only the last.
    assert printed.err.splitlines() == [
        '  train epoch 1, iter 10/40, loss 1.10, eta 4:14:57',
        '  train epoch 1, iter 40/40, loss 1.40, eta 4:14:57']


def test_failed_command_names_log_and_tail(tmp_path):
    cmd = [sys.executable, '-c', 'print("boom"); raise SystemExit(3)']
    try:
        logged_run(cmd, tmp_path / 'x.log')
    except SystemExit as err:
        assert 'exit 3' in str(err) and 'x.log' in str(err)
        assert 'boom' in str(err)
    else:
        raise AssertionError('no SystemExit')
