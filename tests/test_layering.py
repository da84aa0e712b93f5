"""mmdtf's packages import only downward: ``utils`` and ``compat`` (the
bottom) import no other part of mmdtf; ``ops`` and ``structures`` only the
bottom; ``models``, ``datasets`` and ``evaluation`` not the engine nor the
model-level ``analysis`` and ``deployment``, which sit on top. Every import
statement counts, the lazy ones inside functions too."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmdtf'
#: each subpackage's level: it may import its own and lower levels only
LEVELS = {'utils': 0, 'compat': 0, 'version': 0,
          'ops': 1, 'structures': 1, 'testing': 1,
          'models': 2, 'datasets': 2, 'evaluation': 2,
          'engine': 3,
          'analysis': 4, 'deployment': 4}
MODULES = sorted(p for p in PACKAGE.rglob('*.py')
                 if p.parent != PACKAGE or p.name != '__init__.py')


def imported_subpackages(path: Path):
    """(line, mmdtf subpackage) of every import of mmdtf in ``path``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    package = parts[:-1]  # the package a relative import starts from
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package up
                base = package[:len(package) - node.level + 1]
                names = list(base) + (node.module.split('.')
                                      if node.module else [])
                targets = [names] if node.module else [
                    names + [alias.name] for alias in node.names]
            else:
                targets = [(node.module or '').split('.')]
        elif isinstance(node, ast.Import):
            targets = [alias.name.split('.') for alias in node.names]
        else:
            continue
        for names in targets:
            if names[0] == 'mmdtf' and len(names) > 1:
                yield node.lineno, names[1]


def test_every_subpackage_has_a_level():
    found = {p.relative_to(PACKAGE).parts[0].removesuffix('.py')
             for p in MODULES}
    assert found <= LEVELS.keys(), sorted(found - LEVELS.keys())


@pytest.mark.parametrize('path', MODULES,
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_downward(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix('.py')
    upward = [f'line {line}: mmdtf.{target}'
              for line, target in imported_subpackages(path)
              if LEVELS[target] > LEVELS[own]]
    assert not upward, (f'mmdtf/{path.relative_to(PACKAGE)} (level '
                        f'{LEVELS[own]}, {own}) imports upward: {upward}')
