"""The wheel ships the package, its configs and CUDA sources, and nothing
else at the top level of site-packages (in particular no `ops` module).

pip builds a local directory in place (`build/`, `*.egg-info`, and setup.py
stages `mmdtf/.mim`), so the wheel is built from a copy of the tree in a tmp
dir: the checkout is left as it was."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: top-level entries of a checkout that the build does not read: VCS data,
#: build outputs, environments, local data and runs
NOT_COPIED = {'.git', 'build', 'dist', '.venv', 'data', 'work_dirs',
              '.pytest_cache', '.whl', '.gl'}
#: what an in-place build writes into the tree it builds
BUILD_OUTPUTS = ('build', 'dist', 'mmdtf.egg-info', 'mmdtf/.mim')


def _ignore(directory, names):
    ignored = {'__pycache__', '.mim'} & set(names)
    if Path(directory) == REPO:
        ignored |= {n for n in names
                    if n in NOT_COPIED or n.endswith('.egg-info')}
    return ignored


def _snapshot(root: Path) -> dict:
    """(path -> mtime) of every build output under ``root``."""
    found = {}
    for name in BUILD_OUTPUTS:
        top = root / name
        for path in [top, *top.rglob('*')] if top.exists() else []:
            found[str(path.relative_to(root))] = path.stat().st_mtime_ns
    return found


def test_wheel_contents(tmp_path):
    before = _snapshot(REPO)
    tree = tmp_path / 'src'
    shutil.copytree(REPO, tree, ignore=_ignore, symlinks=True)
    assert _snapshot(tree) == {}
    out = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                    '--no-build-isolation', '-q', '-w', str(out),
                    str(tree)], check=True, capture_output=True, timeout=300)
    wheel, = out.glob('mmdtf-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split('/')[0] for name in names}
    assert top == {'mmdtf', wheel.name.split('-py3')[0] + '.dist-info'}
    assert 'mmdtf/.mim/ops/frame_aggregation.cu' in names
    configs = {n for n in names if n.startswith('mmdtf/.mim/configs/')}
    expected = {f'mmdtf/.mim/configs/{p.relative_to(REPO / "configs")}'
                for p in (REPO / 'configs').rglob('*.py')}
    assert configs == expected
    # the build ran in the copy: setup.py removed its staged mmdtf/.mim
    # there (left behind it would shadow configs/ in a checkout), and nothing
    # was built in the checkout
    assert (tree / 'build').is_dir()
    assert not (tree / 'mmdtf' / '.mim').exists()
    assert _snapshot(REPO) == before
