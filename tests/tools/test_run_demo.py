"""The README's demo end to end, as a user runs it: synthetic data, then
`mim train mmaction2` and `mim test mmaction2` (10 clips x 3 crops) for TSN,
C2D and DTF-Net, and the expected ranking of their top-1 accuracies."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_trains_and_tests_through_mim(tmp_path):
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)  # mim runs MMAction2's tools with the install
    cmd = [sys.executable, 'tools/run_demo.py', '--data-root',
           str(tmp_path / 'demo'), '--work-dir', str(tmp_path / 'work'),
           '--check']
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=40 * 60)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((tmp_path / 'work' / 'results.json').read_text())
    assert set(results) == {'tsn', 'c2d', 'dtf'}
    assert results['dtf'] > 0.9
    assert results['dtf'] > results['c2d']
    # TSN sees no order: it can tell at most which pair a video is from
    assert results['tsn'] < 0.6
    assert '| DTF-Net R18 |' in proc.stdout
    for name in results:
        log = (tmp_path / 'work' / name / 'mim_test.log').read_text()
        assert 'acc/top1' in log
