"""tools/gpu_check.sh and tools/dev/gpu_check.py, as far as a machine without a
GPU can run them: the dry run (the plan within the 8-minute deadline, the
environment check, the install command with the CuPy extra of PyTorch's
CUDA), the extra's choice, a step killed at its limit, the table."""
import subprocess
import sys
import time

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

gpu_check = helpers.load_tool('dev/gpu_check')


def test_dry_run_prints_the_plan_and_checks_the_environment(tmp_path):
    run = subprocess.run(
        ['bash', str(helpers.REPO / 'tools' / 'gpu_check.sh'), '--dry-run',
         str(tmp_path / 'out')], cwd=helpers.REPO, capture_output=True,
        text=True, env=helpers.subprocess_env(),
        timeout=helpers.SUBPROCESS_TIMEOUT)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert 'would run: ' in out and ' -e .[tests' in out
    for step in gpu_check.STEPS:
        assert f'  {step.name:<12} {step.budget_s:>4} s  {step.what}' in out
    limits = sum(step.budget_s for step in gpu_check.STEPS)
    assert f'total limits {limits} s' in out
    assert limits <= gpu_check.DEADLINE_S - 20  # the installation's time
    assert 'environment: ' in out
    if 'NOT READY' in out:  # a machine without a GPU, as CI's
        assert 'sees no CUDA device' in out
    assert not (tmp_path / 'out').exists()  # a dry run writes nothing


def test_the_cupy_extra_follows_pytorchs_cuda():
    assert gpu_check.cupy_extra('12.8') == 'cuda12'
    assert gpu_check.cupy_extra('13.0') == 'cuda13'
    assert gpu_check.cupy_extra(None) is None
    assert gpu_check.cupy_extra('11.8') is None


def test_the_scripts_the_steps_run_exist():
    for path in gpu_check.SCRIPTS:
        assert path.is_file(), path


def run_child(monkeypatch, tmp_path, code, timeout_s):
    """run_step on a child process running ``code``."""
    step = gpu_check.Step('env', 'a step', 1, None)
    monkeypatch.setattr(gpu_check, 'step_command',
                        lambda step: [sys.executable, '-c', code])
    with open(tmp_path / 'log', 'w') as log:
        return gpu_check.run_step(step, timeout_s, log)


def test_a_step_over_its_limit_is_killed_and_fails(monkeypatch, tmp_path):
    start = time.monotonic()
    # the child and its own child: the process group goes
    code = ('import subprocess, sys, time; subprocess.Popen([sys.executable,'
            " '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    rows = run_child(monkeypatch, tmp_path, code, timeout_s=2)
    assert rows == [['a step', 'timed out after 2 s', '', 'FAIL']]
    assert time.monotonic() - start < 30


def test_a_step_reports_its_rows_or_why_not(monkeypatch, tmp_path):
    tag = gpu_check.ROWS_TAG
    rows = '[["c", "r", "", "PASS"]]'
    code = f'print("noise"); print({tag!r} + {rows!r})'
    assert run_child(monkeypatch, tmp_path, code, 30) == [
        ['c', 'r', '', 'PASS']]
    code = "raise SystemExit('CUDA error: no kernel image')"
    assert run_child(monkeypatch, tmp_path, code, 30) == [
        ['a step', 'failed (exit 1): CUDA error: no kernel image', '',
         'FAIL']]


def test_table_numbers_rows_and_keeps_cells_apart():
    table = gpu_check.format_table([['a|b', 'r', 't', 'PASS'],
                                    ['c', 'r2', '', 'FAIL']])
    assert table.splitlines() == [
        '| # | check | result | target | verdict |',
        '|---|---|---|---|---|',
        '| 1 | a/b | r | t | PASS |',
        '| 2 | c | r2 |  | FAIL |']


def test_step_child_prints_its_rows(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, 'STEPS', (gpu_check.Step(
        'env', 'x', 5, lambda tmp: [gpu_check.row('c', 'r')]), ))
    assert gpu_check.main(['--step', 'env']) == 0
    assert capsys.readouterr().out.strip() == (
        gpu_check.ROWS_TAG + '[["c", "r", "", "INFO"]]')


def test_issue_29_targets_are_a_step_on_request(capsys, tmp_path):
    """The targets against C2D (compiled runs: minutes) are not in the
    8-minute default; --steps targets plans them."""
    assert 'targets' not in [step.name for step in gpu_check.STEPS]
    gpu_check.main(['--out', str(tmp_path), '--dry-run', '--steps',
                    'targets'])
    out = capsys.readouterr().out
    step, = gpu_check.EXTRA_STEPS
    assert f'  {step.name:<12} {step.budget_s:>4} s  {step.what}' in out
    assert 'plan: 1 steps' in out
