"""After `import mmdtf` the PyPI MMAction2 1.2.0 builds its models; DRN, the
one part its wheel lacks, fails with the reason."""
import importlib.util
import sys
import types
from pathlib import Path

import mmaction
import pytest
from mmaction.registry import MODELS
from mmengine.config import Config

import mmdtf  # noqa: F401
from mmdtf.compat import missing_drn
from mmdtf.compat.missing_drn import DRN as StandInDRN
from mmdtf.compat.missing_drn import DRN_MISSING, DRN_MODULE

MODEL_CONFIGS = sorted(
    (Path(mmaction.__file__).parent / '.mim' / 'configs' / '_base_' /
     'models').glob('*.py'))
# MobileOne backbones come from the optional mmpretrain package.
NEEDS_MMPRETRAIN = {'tsm_mobileone_s4.py', 'tsn_mobileone_s0.py'}


def test_mmaction_models_import():
    import mmaction.models  # noqa: F401  (fails on the bare 1.2.0 wheel)
    for name in ('ResNetTSM', 'ResNet3d', 'SwinTransformer3D', 'I3DHead',
                 'Recognizer3D', 'ResNetDTF', 'DTFBlock', 'FrameAggregation'):
        assert MODELS.get(name) is not None, name


def _strip_pretrained(cfg):
    if isinstance(cfg, dict):
        for key in ('pretrained', 'pretrained2d'):
            if key in cfg and isinstance(cfg[key], str):
                cfg[key] = None
        cfg.pop('init_cfg', None) if isinstance(cfg.get('init_cfg'), dict) \
            and cfg['init_cfg'].get('type') == 'Pretrained' else None
        for value in cfg.values():
            _strip_pretrained(value)
    elif isinstance(cfg, list):
        for value in cfg:
            _strip_pretrained(value)


@pytest.mark.parametrize('path', MODEL_CONFIGS, ids=lambda p: p.name)
def test_every_mmaction_base_model_builds(path):
    assert len(MODEL_CONFIGS) > 15
    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model.to_dict()
    _strip_pretrained(model_cfg)
    if path.name in NEEDS_MMPRETRAIN and \
            importlib.util.find_spec('mmpretrain') is None:
        # MMAction2's own optional dependency, not the missing DRN: the
        # error must be about MobileOne, not an import of mmaction.models.
        with pytest.raises((ImportError, KeyError), match='MobileOne|mmpretrain'):
            MODELS.build(model_cfg)
        return
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_drn_fails_with_reason():
    if MODELS.get('DRN') is not StandInDRN:
        pytest.skip('this MMAction2 install has the real DRN')
    with pytest.raises(ImportError) as info:
        MODELS.build(dict(type='DRN'))
    assert str(info.value) == DRN_MISSING
    assert '#2714' in DRN_MISSING


def _mmaction_at(monkeypatch, root):
    """Make the probe see an MMAction2 installed at ``root``, with no DRN
    module imported yet."""
    for name in (DRN_MODULE, f'{DRN_MODULE}.drn'):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec = types.SimpleNamespace(submodule_search_locations=[str(root)])
    monkeypatch.setattr(missing_drn.importlib.util, 'find_spec',
                        lambda name: spec)


def test_probe_looks_for_the_drn_files(monkeypatch, tmp_path):
    _mmaction_at(monkeypatch, tmp_path)
    assert missing_drn.defect_present()  # the 1.2.0 wheel
    drn = tmp_path / 'models' / 'localizers' / 'drn'
    drn.mkdir(parents=True)
    (drn / 'drn.py').write_text('')
    assert not missing_drn.defect_present()  # a source install


def test_no_op_when_mmaction_has_drn(monkeypatch, tmp_path):
    drn = tmp_path / 'models' / 'localizers' / 'drn'
    drn.mkdir(parents=True)
    (drn / 'drn.py').write_text('')
    _mmaction_at(monkeypatch, tmp_path)
    registered = []
    monkeypatch.setattr(MODELS, 'register_module',
                        lambda **kwargs: registered.append(kwargs))
    assert missing_drn.apply() is False
    assert DRN_MODULE not in sys.modules
    assert not registered


def test_installs_the_stand_in_when_drn_is_missing(monkeypatch, tmp_path):
    _mmaction_at(monkeypatch, tmp_path)
    registered = []
    monkeypatch.setattr(MODELS, 'register_module',
                        lambda **kwargs: registered.append(kwargs))
    assert missing_drn.apply() is True
    assert sys.modules[f'{DRN_MODULE}.drn'].DRN is StandInDRN
    assert registered == [dict(name='DRN', module=StandInDRN, force=True)]
    assert missing_drn.apply() is True  # idempotent
    assert len(registered) == 1
