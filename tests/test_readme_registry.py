"""The README's reference table lists every name `import mmdtf` registers in
MMAction2's registries (old names with their new ones), each in its
registry, and nothing else."""
import re
from pathlib import Path

from mmaction import registry

REPO = Path(__file__).resolve().parents[1]
REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS',
              'OPTIM_WRAPPERS')


def registered_by_mmdtf() -> dict:
    """``{name: registry}`` of mmdtf's classes (not mmdtf.compat's stand-in
    for MMAction2's missing DRN, which is MMAction2's name)."""
    import mmdtf  # noqa: F401
    names = {}
    for reg in REGISTRIES:
        for name, cls in getattr(registry, reg).module_dict.items():
            module = getattr(cls, '__module__', '')
            if module.startswith('mmdtf.') and '.compat.' not in module:
                names[name] = reg
    return names


def readme_table() -> dict:
    """``{name: [registries]}`` of the README's reference table."""
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    table = text.split('| name | registry | what |', 1)[1].split('\n\n')[0]
    listed = {}
    for row in table.strip().splitlines()[1:]:
        names, registries = row.strip('|').split('|')[:2]
        for name in re.findall(r'`(\w+)`', names):
            listed[name] = re.findall(r'`(\w+)`', registries)
    return listed


def test_readme_lists_every_registered_name():
    registered, listed = registered_by_mmdtf(), readme_table()
    assert sorted(registered) == sorted(listed)
    for name, reg in registered.items():
        assert reg in listed[name], (name, reg, listed[name])
