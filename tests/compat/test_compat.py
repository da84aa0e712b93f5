"""mmdtf.compat: every patch says what it fixes, and `import mmdtf` applied
those whose defects this install (torch 2.13, MMEngine 0.10.7, the MMAction2
1.2.0 wheel) has: all four on a machine without a GPU, all but
`cpu_init_dist` (MMEngine's launcher needs no help there) on one with."""
from pathlib import Path

from cuda_marker import DEVICE_COUNT  # tests/cuda_marker.py

import mmdtf
from mmdtf import compat

DOC = (Path(__file__).resolve().parents[2] / 'docs' / 'internals' /
       'compat.md')


def test_applied_on_this_install():
    without_gpu = () if DEVICE_COUNT else ('cpu_init_dist', )
    assert mmdtf.compat.applied() == (('missing_drn', 'safe_checkpoints')
                                      + without_gpu + ('bfloat16_heads', ))
    assert compat.apply_all() == compat.applied()  # idempotent


def test_every_patch_names_its_upstream_defect_and_is_documented():
    doc = DOC.read_text()
    for patch in compat.PATCHES:
        name = patch.__name__.rsplit('.', 1)[-1]
        assert patch.UPSTREAM and patch.AFFECTS, name
        assert callable(patch.defect_present) and callable(patch.apply)
        assert f'`mmdtf/compat/{name}.py`' in doc, name
