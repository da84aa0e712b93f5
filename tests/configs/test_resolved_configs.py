"""Moving and deduplicating configs changes nothing a run reads: every
shipped config, resolved (``Config.fromfile(...).to_dict()``, every
``_base_`` merged), has the content recorded in
``tests/fixtures/resolved_configs.json``, key by key.

The fixture holds, per config path, a short hash of each top-level key's
resolved value. It was written from the configs as they were before they
moved into ``configs/dtf/`` and shared their blocks through ``_base_``
files; a config that moved is looked up under its old path through the
"Renamed" table of docs/changelog.md, so the table is checked too.
A deliberate change of a config's content is recorded by writing the
fixture again::

    python tests/configs/test_resolved_configs.py   # rewrites the fixture
"""
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / 'tests' / 'fixtures' / 'resolved_configs.json'
CHANGELOG = REPO / 'docs' / 'changelog.md'
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
#: Top-level variables a moved config no longer has, with why: only helper
#: variables no run reads (model, loaders, schedule and hooks stay equal).
#: The Something-Something Swin-B configs inherited ``frame_interval = 2``
#: from the Kinetics-400 recipe, whose sampler reads it; theirs samples
#: consecutive frames (``frame_interval=1``), so the variable only misled.
DROPPED = {
    'dtf/dtf_swin-b-p4-w7-in22k-pre_8xb8-32x1x1-64e_sthv2-rgb.py':
    ('frame_interval', ),
    'dtf/dtf_swin-b-p4-w7-in22k-pre_8xb8-32x1x1-64e_sthv1-rgb.py':
    ('frame_interval', ),
}


#: Registry names docs/changelog.md renames whose old name stays registered
#: for the same class (checked below): either name builds the same model.
SAME_CLASS = {'ResNetTINTorch': 'ResNetTINShift',
              'ResNetMultiLayout': 'ResNetMultiFormat',
              'ResNetTSMMultiLayout': 'ResNetTSMMultiFormat'}


def canonical(value) -> str:
    """A text of ``value`` that is equal exactly when the values are:
    dict keys sorted, lists and tuples told apart, floats by repr, a
    registry name by its current name (:data:`SAME_CLASS`)."""
    if isinstance(value, str):
        return repr(SAME_CLASS.get(value, value))
    if isinstance(value, dict):
        return '{' + ', '.join(f'{k!r}: {canonical(v)}'
                               for k, v in sorted(value.items())) + '}'
    if isinstance(value, (list, tuple)):
        items = ', '.join(canonical(v) for v in value)
        return f'[{items}]' if isinstance(value, list) else f'({items})'
    return repr(value)


def fingerprint(path: Path) -> dict:
    """``{top-level key: hash of its resolved value}`` of a config."""
    resolved = Config.fromfile(str(path)).to_dict()
    return {key: hashlib.sha256(canonical(value).encode()).hexdigest()[:12]
            for key, value in sorted(resolved.items())}


def renamed_configs() -> list:
    """``[(old path, new path)]`` (under configs/) from the changelog's table
    rows ``| `configs/<old>.py` | `configs/<new>.py` |``."""
    return re.findall(r'^\| `configs/(\S+?\.py)` \| `configs/(\S+?\.py)` \|',
                      CHANGELOG.read_text(encoding='utf-8'), re.M)


def recorded_paths(path: Path) -> list:
    """Where the fixture has ``path``'s content: its old paths (several
    where an alias and its config merged into one), else its own."""
    return [old for old, new in renamed_configs() if new == rel(path)] or [
        rel(path)]


def rel(path: Path) -> str:
    return path.relative_to(REPO / 'configs').as_posix()


RECORDED = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_resolved_config_is_unchanged(path):
    got = fingerprint(path)
    for old in recorded_paths(path):
        assert old in RECORDED, (
            f'configs/{rel(path)} is new: no recorded content under '
            f'configs/{old} (a moved config needs its row in the "Renamed" '
            'table of docs/changelog.md; a new one, the fixture written '
            'again)')
        dropped = DROPPED.get(rel(path), ())
        assert set(dropped) <= RECORDED[old].keys() - got.keys()
        expected = {key: value for key, value in RECORDED[old].items()
                    if key not in dropped}
        changed = sorted(key for key in expected.keys() | got.keys()
                         if expected.get(key) != got.get(key))
        assert not changed, (f'configs/{rel(path)} (was configs/{old}) '
                             f'resolves differently at: {changed}')


def test_renamed_registry_names_build_the_same_class():
    from mmaction.registry import MODELS
    for old, new in SAME_CLASS.items():
        assert MODELS.get(old) is MODELS.get(new) is not None, (old, new)


def test_every_recorded_config_still_exists():
    """No config disappeared: each recorded path is a config now, or the
    changelog names where it went."""
    now = {old for path in CONFIGS for old in recorded_paths(path)}
    assert sorted(set(RECORDED) - now) == []


def test_changelog_rows_name_existing_configs():
    for old, new in renamed_configs():
        assert (REPO / 'configs' / new).is_file(), new
        assert not (REPO / 'configs' / old).exists(), (
            f'configs/{old} is listed as renamed but still exists')


if __name__ == '__main__':
    import mmdtf  # noqa: F401  (the configs' custom_imports)
    lines = [f'{json.dumps(rel(p))}: {json.dumps(fingerprint(p))}'
             for p in CONFIGS]  # one config a line
    FIXTURE.write_text('{\n' + ',\n'.join(lines) + '\n}\n')
    print(f'{FIXTURE.relative_to(REPO)}: {len(CONFIGS)} configs',
          file=sys.stderr)
