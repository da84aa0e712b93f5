"""Every path the README, the docs and the code's docstrings name exists:
the tools (``tools/<group>/<tool>.py``, ``.sh``), the configs
(``configs/<folder>/<config>.py``), the package's modules and folders
(``mmdtf/<...>``), the tests (``tests/<...>.py``), the docs
(``docs/<...>.md``) and the docs' links.
Moving a file without its mentions fails here."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: other projects' files, named as theirs: MMAction2's tools (what `mim
#: train` / `mim test` run) and mmcv's test of its tin_shift
OTHER_PROJECTS = {'tools/train.py', 'tools/test.py',
                  'tests/test_ops/test_tin_shift.py'}
#: the old names docs/changelog.md lists, on purpose
CHANGELOG = REPO / 'docs' / 'changelog.md'
TEXTS = sorted(
    [REPO / 'README.md', *(REPO / 'docs').rglob('*.md'),
     *(REPO / 'tools').rglob('*.py'), *(REPO / 'tools').rglob('*.sh'),
     *(REPO / 'mmdtf').rglob('*.py'), *(REPO / 'configs').rglob('*.py'),
     *(REPO / 'tests').rglob('*.py')])
# Each a path that is not inside another (tests/tools/..., .mim/configs/...)
# and no pattern (configs/dtf/dtf_swin-*, a{b,c}): files, and folders
# (ending in /) of the package and of configs/.
NAMED = re.compile(
    r'(?<![\w./:-])(?:'
    r'(?:tools|tests|configs|docs)/[\w./-]+?\.(?:py|sh|md|png)\b(?![*{])'
    r'|configs/[\w./-]*/(?![\w*{])'
    r'|mmdtf/(?!\.mim)[\w./-]*[\w/])')
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def mentions(path: Path, pattern) -> set:
    return set(pattern.findall(path.read_text(encoding='utf-8')))


def ids(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize('text', [p for p in TEXTS if p != CHANGELOG],
                         ids=ids)
def test_named_paths_exist(text):
    missing = sorted(p for p in mentions(text, NAMED) - OTHER_PROJECTS
                     if not (REPO / p).exists())
    assert not missing, f'{ids(text)} names what does not exist: {missing}'


@pytest.mark.parametrize('text', [p for p in TEXTS if p.suffix == '.md'],
                         ids=ids)
def test_links_resolve(text):
    targets = [t for t in mentions(text, LINK) if '://' not in t]
    missing = sorted(t for t in targets if not (text.parent / t).exists())
    assert not missing, f'{ids(text)} links to nothing: {missing}'
