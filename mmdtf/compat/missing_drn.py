"""Make the PyPI wheel of MMAction2 1.2.0 importable.

Upstream: open-mmlab/mmaction2 issue #2714. Affects: the ``mmaction2==1.2.0``
wheel on PyPI (a source install has the module).

The wheel lacks ``mmaction/models/localizers/drn/``, so
``import mmaction.models`` fails and no MMAction2 model can be built. Before
that import we put a stand-in module in its place whose ``DRN`` is registered
under the same name and fails, when built, with the reason. Detected by
looking for the module's files: nothing is done when the real module is
present.
"""
import importlib.util
import sys
import types
from pathlib import Path

DRN_MODULE = 'mmaction.models.localizers.drn'
DRN_MISSING = (
    'DRN is not available: the installed MMAction2 wheel lacks '
    f'`{DRN_MODULE}` (MMAction2 issue #2714). Install MMAction2 from source '
    '(`pip install git+https://github.com/open-mmlab/mmaction2.git`) to use '
    'DRN; every other MMAction2 model works with mmdtf as installed.')


class DRN:
    """Stand-in for MMAction2's DRN, missing from its PyPI wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(DRN_MISSING)


UPSTREAM = 'open-mmlab/mmaction2#2714'
AFFECTS = 'mmaction2 1.2.0 wheel from PyPI'


def defect_present() -> bool:
    """Whether ``mmaction/models/localizers/drn/drn.py`` is missing."""
    # Look at the files: find_spec on the module itself would import
    # mmaction.models, the very import that fails.
    if DRN_MODULE in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    for root in spec.submodule_search_locations:
        drn_dir = Path(root, 'models', 'localizers', 'drn')
        if (drn_dir / 'drn.py').is_file():
            return False
    return True


def apply() -> bool:
    """Install the DRN stand-in if the module is missing; returns whether
    the stand-in is in place."""
    if getattr(sys.modules.get(DRN_MODULE), 'DRN', None) is DRN:
        return True  # installed by an earlier call
    if not defect_present():
        return False
    from mmaction.registry import MODELS

    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []  # a package, so `drn.drn` can hang below it
    module = types.ModuleType(f'{DRN_MODULE}.drn')
    module.DRN = DRN
    package.drn = module
    package.DRN = DRN
    sys.modules[DRN_MODULE] = package
    sys.modules[f'{DRN_MODULE}.drn'] = module
    MODELS.register_module(name='DRN', module=DRN, force=True)
    return True
