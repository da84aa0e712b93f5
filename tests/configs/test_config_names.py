"""One naming scheme: every config under its MMAction2-style name, the short
names only as one-line aliases; the frame count set once per config and
used by the backbone and every `SampleFrames`."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
NAME = re.compile(r'_\d+xb\d+-(\d+)x\d+x\d+-\d+e_[a-z0-9]+-rgb$')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
ALIASES = {
    'dtf_r50_k400.py':
    'dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py',
    'dtf_swin-b_k400.py':
    'dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
    'dtf_swin-s_k400.py':
    'dtf_swin-s-p4-w7-in1k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
    'dtf_swin-t_k400.py':
    'dtf_swin-t-p4-w7-in1k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
}


@pytest.mark.parametrize('short', sorted(ALIASES))
def test_short_names_are_aliases(short):
    text = (REPO / 'configs' / short).read_text()
    assert text == f"_base_ = ['./{ALIASES[short]}']\n"
    assert (Config.fromfile(str(REPO / 'configs' / short)).to_dict() ==
            Config.fromfile(str(REPO / 'configs' / ALIASES[short])).to_dict())


def test_every_other_config_has_a_full_name():
    """`<model>_<pretrain/backbone>_<gpus>xb<batch>-<frames>x<interval>x<clips>
    -<epochs>e_<dataset>-<modality>.py`, as MMAction2 names its configs."""
    for path in CONFIGS:
        if path.name in ALIASES or path.parent.name == 'demo':
            continue
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
    if path.parent == REPO / 'configs':  # set once, in the config itself
        assert cfg.clip_len == clip_len
    name = NAME.search(path.stem)
    if name:  # `<frames>x<interval>x<clips>` of the name
        assert int(name.group(1)) == clip_len, path.name
    for loader in LOADERS:
        sample = [step for step in cfg[loader].dataset.pipeline
                  if step['type'] == 'SampleFrames']
        assert [step['clip_len'] for step in sample] == [clip_len], loader
