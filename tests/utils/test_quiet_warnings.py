"""`import mmdtf` silences exactly two known-harmless warnings of its
dependencies (mmcv-lite's MultiScaleDeformableAttention, pkg_resources'
deprecation), and nothing else. Run in fresh interpreters: pytest resets
warning filters around each test."""
import os
import subprocess
import sys
import textwrap

import helpers


def python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    env['PYTHONPATH'] = str(helpers.REPO)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          env=env, cwd=helpers.REPO, capture_output=True,
                          text=True, timeout=120)


def test_import_prints_no_warning():
    result = python('import mmdtf')
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    # Without mmdtf the mmcv-lite warning is there: the test can fail.
    bare = python('import mmcv.cnn.bricks.transformer')
    assert 'MultiScaleDeformableAttention' in bare.stderr


def test_pkg_resources_silenced_where_mmengine_uses_it():
    result = python('''
        import mmdtf
        from mmengine.utils import is_installed
        assert is_installed('mmengine') and is_installed('mmaction2')
    ''')
    assert result.returncode == 0, result.stderr
    assert 'pkg_resources' not in result.stderr


def test_other_warnings_still_shown():
    """Same module, other message; same message, another module."""
    result = python('''
        import warnings
        import mmdtf
        warnings.warn_explicit('something else', UserWarning, 'transformer.py',
                               1, module='mmcv.cnn.bricks.transformer')
        warnings.warn_explicit(
            'Fail to import ``MultiScaleDeformableAttention`` from ours',
            UserWarning, 'mine.py', 1, module='mypackage')
        warnings.warn_explicit('pkg_resources is deprecated as an API',
                               UserWarning, 'mine.py', 2, module='mypackage')
    ''')
    assert result.returncode == 0, result.stderr
    assert 'something else' in result.stderr
    assert 'from ours' in result.stderr
    assert 'mine.py:2' in result.stderr
