"""mmdtf: Dynamic Temporal Filtering (ECCV 2022) for MMAction2.

`configs/` and the CUDA sources in `ops/` ship inside the package as
`mmdtf/.mim/configs` and `mmdtf/.mim/ops` (the OpenMMLab layout), so no
top-level `ops` module lands in site-packages. Editable installs read them
from the checkout instead (see `mmdtf/utils/resources.py`).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
STAGED = ('configs', 'ops')  # top-level folders shipped under mmdtf/.mim
# The CuPy wheel per CUDA major version (the `cuda12` / `cuda13` extras).
# CuPy 14 finds NVRTC where PyTorch's CUDA wheels put it (cuda-pathfinder).
CUPY = {'12': 'cupy-cuda12x>=14.0,<15', '13': 'cupy-cuda13x>=14.0,<15'}


def read_version() -> str:
    scope = {}
    exec((ROOT / 'mmdtf' / 'version.py').read_text(), scope)
    return scope['__version__']


def stage_package_data() -> None:
    """Copy configs/ and ops/ into mmdtf/.mim for a wheel or sdist build.

    Editable installs skip the copy, so edits in the checkout are seen.
    """
    mim = ROOT / 'mmdtf' / '.mim'
    if mim.exists():
        shutil.rmtree(mim)
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        return
    for name in STAGED:
        shutil.copytree(ROOT / name, mim / name,
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def installed_version(dist: str):
    """Version of `dist` in the target environment, or None.

    pip builds in an isolated environment that hides the target's
    site-packages, so ask the target interpreter without that isolation.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PYTHONNOUSERSITE', 'PYTHONHOME')}
    code = ('import importlib.metadata as m, sys\n'
            f'try: print(m.version({dist!r}))\n'
            'except m.PackageNotFoundError: sys.exit(1)')
    result = subprocess.run([sys.executable, '-c', code], env=env,
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def mmcv_requirement() -> str:
    # mmdtf needs no compiled mmcv op: mmcv-lite is enough, but a full mmcv
    # already installed is kept (the two must not be installed together).
    return ('mmcv>=2.0.0,<2.2.0' if installed_version('mmcv')
            else 'mmcv-lite>=2.0.0,<2.2.0')


stage_package_data()
try:
    setup(
        name='mmdtf',
        version=read_version(),
        description='Dynamic Temporal Filtering (DTF, ECCV 2022) for MMAction2',
        long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        python_requires='>=3.10,<3.13',
        packages=find_packages(include=['mmdtf', 'mmdtf.*']),
        package_data={
            'mmdtf': ['.mim/configs/**/*.py', '.mim/ops/*.cu', '.mim/ops/*.cuh',
                      '.mim/ops/*.cpp'],
        },
        include_package_data=False,
        install_requires=[
            'torch>=2.4',  # torch.library.custom_op with register_kernel
            'mmengine>=0.10.0,<0.11.0',
            mmcv_requirement(),
            'mmaction2==1.2.0',
            'decord>=0.6.0',
            'openmim>=0.3.9',
            # torch.utils.cpp_extension builds FA's fused CPU kernel with it
            'ninja',
            # Imported by MMAction2 / needed by mim and `mmaction::` configs,
            # but not declared by them.
            'importlib_metadata',
            'setuptools<81',
            'numpy',
            'opencv-python',
        ],
        extras_require={
            # CuPy for FA's CUDA kernels: the wheel of the CUDA major version
            # PyTorch was built with (`torch.version.cuda`), whose NVRTC it
            # finds; `cuda` is the current CUDA, 13 (docs/internals/ops.md).
            'cuda12': [CUPY['12']],
            'cuda13': [CUPY['13']],
            'cuda': [CUPY['13']],
            # Only for `torchvision://` pretrained names. Unpinned it may
            # pull a different (CUDA) torch: install with your torch pinned,
            # `pip install ".[torchvision]" torch==<installed version>`, or
            # `pip install --no-deps torchvision==<match>`
            # (docs/user_guides/pretrained.md).
            'torchvision': ['torchvision'],
            'tests': ['pytest>=7', 'onnx', 'onnxruntime', 'onnxscript',
                      'scikit-learn'],
        },
        entry_points={
            'console_scripts': ['mmdtf-config-dir=mmdtf.utils.resources:main'],
        },
        zip_safe=False,
    )
finally:
    # The staged copy is for the build only: left in the checkout it would
    # shadow configs/ and ops/ for an editable install.
    shutil.rmtree(ROOT / 'mmdtf' / '.mim', ignore_errors=True)
