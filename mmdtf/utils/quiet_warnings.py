"""Silence two known-harmless warnings of our dependencies, exactly.

Each filter matches one message from one module, so any other warning of
those packages (and every warning of ours) is still shown.

- mmcv-lite: importing ``mmcv.cnn.bricks.transformer`` (MMAction2 does, for
  every model) warns that ``MultiScaleDeformableAttention`` needs the
  compiled ``mmcv``. That op is used by detection transformers only; no
  mmdtf or MMAction2 recognizer touches it, and mmdtf is built for
  mmcv-lite.
- setuptools < 81 warns on every ``import pkg_resources`` that the API is
  deprecated. MMEngine (``mmengine.utils.package_utils``, which also
  re-imports it through ``importlib.reload``) and OpenMIM use it to look up
  installed packages; the warning is about their code, and a user can do
  nothing about it. The ``mim`` command's own process and MMEngine's config
  parsing run before ``import mmdtf`` and still print it there; set
  ``PYTHONWARNINGS`` as :data:`PKG_RESOURCES_ENV` (``tools/demo/run_demo.py``
  does) to silence those too.
"""
import warnings

MMCV_LITE_MESSAGE = r'Fail to import ``MultiScaleDeformableAttention``'
MMCV_LITE_MODULE = r'mmcv\.cnn\.bricks\.transformer'
PKG_RESOURCES_MESSAGE = r'pkg_resources is deprecated as an API'
# The importer (stacklevel 2): MMEngine, OpenMIM, or importlib for reloads.
PKG_RESOURCES_MODULES = r'(mmengine|mim|importlib)(\..*)?$'
#: PYTHONWARNINGS entry for processes that warn before importing mmdtf
PKG_RESOURCES_ENV = 'ignore:pkg_resources is deprecated as an API:UserWarning'


def silence_known_warnings() -> None:
    warnings.filterwarnings('ignore', message=MMCV_LITE_MESSAGE,
                            category=UserWarning, module=MMCV_LITE_MODULE)
    warnings.filterwarnings('ignore', message=PKG_RESOURCES_MESSAGE,
                            category=UserWarning,
                            module=PKG_RESOURCES_MODULES)
