"""Which DTF block each config builds (`dtf_cfg.variant`), as the README's
model table says, and the two configs of the paper's and the authors'
blocks."""
import glob
import re
from pathlib import Path

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config

from mmdtf.models import DTFBlock

REPO = Path(__file__).resolve().parents[2]
README = (REPO / 'README.md').read_text(encoding='utf-8')


def _expand(pattern):
    """``a{b,c}d`` -> ``abd``, ``acd``; then globbing under configs/."""
    match = re.search(r'\{([^}]*)\}', pattern)
    if match:
        return [p for alt in match.group(1).split(',') for p in _expand(
            pattern[:match.start()] + alt + pattern[match.end():])]
    return sorted(glob.glob(str(REPO / 'configs' / pattern)))


def readme_rows():
    """(config paths, block) of every row of the model table."""
    table = README.split('| config (`configs/`) |', 1)[1].split('\n\n', 1)[0]
    header, _, *rows = table.splitlines()
    # the header's first cell, `config`, is cut off by the split above
    block = 1 + [c.strip() for c in header.strip('|').split('|')].index(
        'DTF block')
    out = []
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        pattern = re.match(r'`([^`]+)`', cells[0]).group(1)
        paths = _expand(pattern)
        assert paths, f'README names no config: {pattern}'
        out.append((pattern, paths, cells[block]))
    return out


ROWS = readme_rows()


def built_block(path):
    """The variant the config gives its DTF blocks ('mmdtf' when unset),
    None for a model without them."""
    backbone = Config.fromfile(path).model.backbone
    if backbone.type not in ('ResNetDTF', 'SwinDTF'):
        return None
    if not any(backbone.get('dtf_stages', (True, ))):
        return None  # C2D: DTF off everywhere
    return backbone.get('dtf_cfg', {}).get('variant') or 'mmdtf'


@pytest.mark.parametrize('pattern,paths,cell', ROWS,
                         ids=[row[0] for row in ROWS])
def test_readme_says_which_block_each_config_builds(pattern, paths, cell):
    blocks = {built_block(p) for p in paths} - {None}
    if not blocks:
        assert cell == '-'
    else:
        (block, ) = blocks
        assert cell.startswith(f'`{block}`'), (pattern, cell)


@pytest.mark.parametrize('variant', ['paper', 'authors'])
def test_variant_configs(variant):
    """A one-line `_base_` on the K400 R50 config and the variant key; the
    model builds the named block everywhere."""
    path = REPO / 'configs' / 'dtf' / (
        f'dtf-{variant}_imagenet-pretrained-r50_8xb32-16x1x1-128e_'
        'kinetics400-rgb.py')
    cfg = Config.fromfile(str(path))
    base = Config.fromfile(str(REPO / 'configs' / 'dtf_r50_k400.py'))
    assert cfg.model.backbone.dtf_cfg == dict(base.model.backbone.dtf_cfg,
                                              variant=variant)
    backbone = cfg.model.backbone.to_dict()
    backbone['pretrained'] = None
    blocks = [m for m in MODELS.build(backbone).modules()
              if isinstance(m, DTFBlock)]
    assert len(blocks) == 16 and {b.variant for b in blocks} == {variant}
