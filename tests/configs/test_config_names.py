"""One naming scheme: every recipe under its MMAction2-style name, the
demo configs (`demo/` folders) as `<model>_<backbone>_demo.py`, and one
short alias, `configs/dtf_r50_k400.py` (the README's); the frame count set
once per config and used by the backbone and every `SampleFrames`."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
NAME = re.compile(r'_\d+xb\d+-(\d+)x\d+x\d+-\d+e_[a-z0-9]+-rgb$')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
DEMO_NAME = re.compile(r'^[a-z0-9_]+_(r18|x3d-tiny)_demo$')
ALIASES = {
    'dtf_r50_k400.py':
    'dtf/dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py',
}


@pytest.mark.parametrize('short', sorted(ALIASES))
def test_short_names_are_aliases(short):
    text = (REPO / 'configs' / short).read_text()
    assert text == f"_base_ = ['./{ALIASES[short]}']\n"
    assert (Config.fromfile(str(REPO / 'configs' / short)).to_dict() ==
            Config.fromfile(str(REPO / 'configs' / ALIASES[short])).to_dict())


def test_only_the_readme_alias_is_at_the_top():
    """configs/ holds folders (one per model family, _base_) and the alias."""
    top = {p.name for p in (REPO / 'configs').glob('*.py')}
    assert top == set(ALIASES)


def test_every_other_config_has_a_full_name():
    """`<model>_<pretrain/backbone>_<gpus>xb<batch>-<frames>x<interval>x<clips>
    -<epochs>e_<dataset>-<modality>.py`, as MMAction2 names its configs; a
    demo config `<model>_<backbone>_demo.py`."""
    for path in CONFIGS:
        if path.name in ALIASES:
            continue
        if path.parent.name == 'demo':
            assert DEMO_NAME.match(path.stem), path.name
        else:
            assert NAME.search(path.stem), path.name


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_backbone_and_sampler_take_the_same_frame_count(path):
    cfg = Config.fromfile(str(path))
    clip_len = cfg.model.backbone.get('clip_len')
    if cfg.model.backbone.type in ('ResNetDTF', 'SwinDTF'):
        assert clip_len is not None  # the blocks are built for it
    else:
        return  # a 2D model (TSN): frames are segments, not a clip
    if path.parent == REPO / 'configs' / 'dtf':  # set once, in the config
        assert cfg.clip_len == clip_len
    name = NAME.search(path.stem)
    if name:  # `<frames>x<interval>x<clips>` of the name
        assert int(name.group(1)) == clip_len, path.name
    for loader in LOADERS:
        sample = [step for step in cfg[loader].dataset.pipeline
                  if step['type'] == 'SampleFrames']
        assert [step['clip_len'] for step in sample] == [clip_len], loader
