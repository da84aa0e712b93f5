"""tools/dev/mutation_check.py: its mutants still apply to the code (a refactor
that moves a target must retarget the table, not silently skip it), and,
marked slow, every mutant is killed by the tests."""
import subprocess
import sys

import pytest

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

SCRIPT = helpers.REPO / 'tools' / 'dev' / 'mutation_check.py'


def test_every_mutant_applies():
    mutation_check = helpers.load_tool('dev/mutation_check')
    assert mutation_check.main(['--check-targets']) == 0  # or raises


def test_a_moved_target_fails_loudly(tmp_path):
    mutation_check = helpers.load_tool('dev/mutation_check')
    path = tmp_path / 'code.py'
    path.write_text('x = 1\nx = 1\n')
    with pytest.raises(RuntimeError, match='found 2 times'):
        mutation_check.apply(path, [('x = 1', 'x = 2')])
    with pytest.raises(RuntimeError, match='found 0 times'):
        mutation_check.apply(path, [('y = 1', 'y = 2')])


@pytest.mark.slow
def test_every_mutant_is_killed():
    result = subprocess.run([sys.executable, str(SCRIPT)],
                            capture_output=True, text=True,
                            env=helpers.subprocess_env(), timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert 'SURVIVED' not in result.stdout
