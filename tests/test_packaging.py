"""The wheel ships the package, its configs and CUDA sources, and nothing
else at the top level of site-packages (in particular no `ops` module)."""
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                    '--no-build-isolation', '-q', '-w', str(tmp_path),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob('mmdtf-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split('/')[0] for name in names}
    assert top == {'mmdtf', wheel.name.split('-py3')[0] + '.dist-info'}
    assert 'mmdtf/.mim/ops/frame_aggregation.cu' in names
    configs = {n for n in names if n.startswith('mmdtf/.mim/configs/')}
    expected = {f'mmdtf/.mim/configs/{p.relative_to(REPO / "configs")}'
                for p in (REPO / 'configs').rglob('*.py')}
    assert configs == expected
    # the staged copy must not stay behind to shadow configs/ in a checkout
    assert not (REPO / 'mmdtf' / '.mim').exists()
