"""tools/dev/mutation_check.py: its mutants still apply to the code and their
killers exist (a refactor that moves a target must retarget the table, not
silently skip it); only a failed assertion in the named test counts as a
kill; docs/internals/testing.md lists the table as it is; and, marked slow, every
mutant is killed by its named test."""
import subprocess
import sys

import pytest

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

SCRIPT = helpers.REPO / 'tools' / 'dev' / 'mutation_check.py'


@pytest.fixture(scope='module')
def mutation_check():
    return helpers.load_tool('dev/mutation_check')


def test_every_mutant_applies(mutation_check):
    for mutant in mutation_check.MUTANTS:
        mutation_check.apply(helpers.REPO / mutant.file, mutant.replacements,
                             write=False)  # or raises


def test_every_killer_is_collected(mutation_check, pytester):
    # in this process (what `--check-targets` runs in a subprocess): the
    # test modules and torch are imported already
    killers = [mutant.killer for mutant in mutation_check.MUTANTS]
    result = pytester.runpytest_inprocess(
        *mutation_check.collect_args(killers))
    assert result.ret == 0, str(result.stdout)[-3000:]
    collected = [line for line in result.outlines if '::' in line]
    for killer in killers:
        assert any(mutation_check.is_killer(line.strip(), killer)
                   for line in collected), killer
    renamed = pytester.runpytest_inprocess(*mutation_check.collect_args(
        ['tests/ops/test_tin_shift.py::test_no_such_test']))
    assert renamed.ret != 0


def test_a_moved_target_fails_loudly(mutation_check, tmp_path):
    path = tmp_path / 'code.py'
    path.write_text('x = 1\nx = 1\n')
    with pytest.raises(RuntimeError, match='found 2 times'):
        mutation_check.apply(path, [('x = 1', 'x = 2')])
    with pytest.raises(RuntimeError, match='found 0 times'):
        mutation_check.apply(path, [('y = 1', 'y = 2')])


def test_docs_list_every_mutant(mutation_check):
    text = mutation_check.DOCS.read_text()
    assert mutation_check.docs_with_table(text) == text, (
        'docs/internals/testing.md lists other mutants than tools/dev/mutation_check.py: '
        'run `python tools/dev/mutation_check.py --update-docs`')
    for mutant in mutation_check.MUTANTS:
        assert f'| `{mutant.name}` |' in text


# Every way a test can fail, and whether it counts as a kill.
FAILURES = '''
import pytest
import torch
from torch.autograd import gradcheck

@pytest.fixture
def broken():
    raise RuntimeError('fixture')

def test_assert():
    assert 1 == 2

def test_assert_close():
    torch.testing.assert_close(torch.ones(2), torch.zeros(2))

def test_approx():
    assert 0.3 == pytest.approx(0.1)

def test_gradcheck():
    gradcheck(lambda x: x.detach() * 2 + x,
              torch.ones(2, dtype=torch.float64, requires_grad=True))

def test_did_not_raise():
    with pytest.raises(ValueError):
        pass

def test_crash():
    raise TypeError('crash')

def test_fixture_error(broken):
    assert 1 == 2

def test_skipped():
    pytest.skip('no GPU')

def test_passes():
    pass
'''
KILLS = {'test_assert': 'AssertionError',
         'test_assert_close': 'AssertionError',
         'test_approx': 'AssertionError',
         'test_gradcheck': 'GradcheckError',
         'test_did_not_raise': 'Failed'}


def run_with_plugin(pytester, monkeypatch, *args):
    """The mutation check's pytest run, in this process: (exit code, the
    recorded outcomes)."""
    monkeypatch.syspath_prepend(str(helpers.REPO / 'tools' / 'dev'))
    report = pytester.path / 'report.json'
    monkeypatch.setenv('MMDTF_MUTATION_REPORT', str(report))
    result = pytester.runpytest_inprocess('-p', 'mutation_check', *args)
    return result.ret, helpers.load_tool('dev/mutation_check').read_report(report)


def test_only_a_failed_assertion_in_the_named_test_kills(
        mutation_check, pytester, monkeypatch):
    pytester.makepyfile(test_failures=FAILURES)
    code, outcomes = run_with_plugin(pytester, monkeypatch,
                                     'test_failures.py')
    assert code == 1
    recorded = {(o.nodeid.split('::')[1], o.when): (o.outcome, o.exception)
                for o in outcomes}
    for name, exception in KILLS.items():
        assert recorded[name, 'call'] == ('failed', exception)
    assert recorded['test_crash', 'call'] == ('failed', 'TypeError')
    assert recorded['test_fixture_error', 'setup'] == ('failed',
                                                       'RuntimeError')
    assert ('test_fixture_error', 'call') not in recorded  # never ran
    assert recorded['test_skipped', 'call'] == ('skipped', None)
    assert recorded['test_passes', 'call'] == ('passed', None)

    def killed_by(name):
        kill = mutation_check.kill_of(outcomes, f'test_failures.py::{name}')
        return kill and kill.exception

    for name, exception in KILLS.items():
        assert killed_by(name) == exception
    for name in ('test_crash', 'test_fixture_error', 'test_skipped',
                 'test_passes', 'test_other'):
        assert killed_by(name) is None, name


def test_a_collection_error_kills_nothing(mutation_check, pytester,
                                          monkeypatch):
    pytester.makepyfile(test_broken='import no_such_module\n'
                        'def test_x():\n    assert 0\n')
    code, outcomes = run_with_plugin(pytester, monkeypatch,
                                     'test_broken.py::test_x', '-x')
    assert code != 0 and outcomes == []
    assert mutation_check.kill_of(outcomes, 'test_broken.py::test_x') is None
    assert 'no failed test' in mutation_check.what_happened(code, outcomes,
                                                            '')


def test_parametrized_killers(mutation_check):
    is_killer = mutation_check.is_killer
    assert is_killer('f.py::test_a[x-1]', 'f.py::test_a')
    assert is_killer('f.py::test_a[x-1]', 'f.py::test_a[x-1]')
    assert not is_killer('f.py::test_a[x-2]', 'f.py::test_a[x-1]')
    assert not is_killer('f.py::test_ab', 'f.py::test_a')


def test_copy_is_what_git_lists(mutation_check, tmp_path):
    count = mutation_check.copy_checkout(tmp_path)
    listed = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=helpers.REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert count == sum((helpers.REPO / name).is_file() for name in listed)
    assert (tmp_path / 'tools' / 'dev' / 'mutation_check.py').is_file()
    assert not (tmp_path / '.venv').exists()
    assert not (tmp_path / '.git').exists()


@pytest.mark.slow
def test_every_mutant_is_killed_by_its_named_test():
    result = subprocess.run([sys.executable, str(SCRIPT)],
                            capture_output=True, text=True,
                            env=helpers.subprocess_env(), timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert 'NOT KILLED' not in result.stdout
