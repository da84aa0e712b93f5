"""Fixes of upstream defects that mmdtf needs, one module per defect.

Each module names the upstream issue (``UPSTREAM``) and the versions it
affects (``AFFECTS``), checks whether the defect is present in what is
installed (``defect_present()``) and patches only then (``apply()``), so an
upstream release that fixes it needs no change here. ``import mmdtf``
applies them all; :func:`applied` lists what was patched. The table is in
docs/internals/compat.md.
"""
from typing import Tuple

from . import bfloat16_heads, cpu_init_dist, missing_drn, safe_checkpoints

# missing_drn first: the others import mmaction.models, which needs it.
PATCHES = (missing_drn, safe_checkpoints, cpu_init_dist, bfloat16_heads)
_applied = []


def _name(patch) -> str:
    return patch.__name__.rsplit('.', 1)[-1]


def apply_all() -> Tuple[str, ...]:
    """Apply every patch whose defect is present (idempotent)."""
    for patch in PATCHES:
        if patch.apply() and _name(patch) not in _applied:
            _applied.append(_name(patch))
    return applied()


def applied() -> Tuple[str, ...]:
    """Names of the patches in place, e.g. ``('missing_drn', ...)``."""
    return tuple(_applied)


__all__ = ['PATCHES', 'apply_all', 'applied']
