"""Where the shipped configs and CUDA sources are.

A wheel carries them as ``mmdtf/.mim/{configs,ops}`` (see ``setup.py``); an
editable install or a checkout reads the top-level ``configs/`` and ``ops/``.
"""
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parent


def resource_dir(name: str) -> Path:
    """The directory of the shipped ``configs`` or ``ops``."""
    candidates = (PACKAGE_DIR / '.mim' / name, REPO_DIR / name)
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f'mmdtf cannot find its `{name}` directory; looked in '
        f'{", ".join(str(p) for p in candidates)}. Reinstall mmdtf '
        '(`pip install .` from a checkout).')


def config_dir() -> Path:
    """The directory of mmdtf's configs, for ``_base_`` of other projects."""
    return resource_dir('configs')


def main() -> None:
    """`mmdtf-config-dir`: print the config directory (for MMDTF_CONFIGS)."""
    print(config_dir())
    sys.exit(0)
