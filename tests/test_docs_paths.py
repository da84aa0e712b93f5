"""Every path the README, the docs and the code's docstrings name exists:
the tools (``tools/<group>/<tool>.py``, ``.sh``), the configs
(``configs/<folder>/<config>.py``) and
the docs' links. Moving a file without its mentions fails here."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: MMAction2's own tools, named as `mim train` / `mim test` run them
MMACTION_TOOLS = {'tools/train.py', 'tools/test.py'}
#: the old names docs/changelog.md lists, on purpose
CHANGELOG = REPO / 'docs' / 'changelog.md'
TEXTS = sorted(
    [REPO / 'README.md', *(REPO / 'docs').rglob('*.md'),
     *(REPO / 'tools').rglob('*.py'), *(REPO / 'tools').rglob('*.sh'),
     *(REPO / 'mmdtf').rglob('*.py'), *(REPO / 'configs').rglob('*.py'),
     *(REPO / 'tests').rglob('*.py')])
# not inside another path (tests/tools/..., .mim/configs/...), no pattern
TOOL = re.compile(r'(?<![\w./-])tools/[\w./-]+?\.(?:py|sh)\b')
CONFIG = re.compile(r'(?<![\w./:-])configs/[\w./-]+?\.py\b(?![*{])')
CONFIG_FOLDER = re.compile(r'(?<![\w./:-])configs/[\w./-]*/(?![\w*{])')
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def mentions(path: Path, pattern) -> set:
    return set(pattern.findall(path.read_text(encoding='utf-8')))


def ids(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize('text', [p for p in TEXTS if p != CHANGELOG],
                         ids=ids)
def test_named_tools_and_configs_exist(text):
    missing = sorted(p for p in (mentions(text, TOOL) - MMACTION_TOOLS)
                     | mentions(text, CONFIG) if not (REPO / p).is_file())
    missing += sorted(p for p in mentions(text, CONFIG_FOLDER)
                      if not (REPO / p).is_dir())
    assert not missing, f'{ids(text)} names what does not exist: {missing}'


@pytest.mark.parametrize('text', [p for p in TEXTS if p.suffix == '.md'],
                         ids=ids)
def test_links_resolve(text):
    targets = [t for t in mentions(text, LINK) if '://' not in t]
    missing = sorted(t for t in targets if not (text.parent / t).exists())
    assert not missing, f'{ids(text)} links to nothing: {missing}'
