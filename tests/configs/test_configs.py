"""Every shipped config loads and its model builds; inheriting a config from
another project's directory works without copying files."""
import glob
import os
import re
import shutil
from pathlib import Path

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)
from mmdtf.utils import config_dir

REPO = Path(__file__).resolve().parents[2]
README = (REPO / 'README.md').read_text(encoding='utf-8')
# README plus docs/*.md: commands that moved from the README to the docs
DOCS = README + ''.join(p.read_text(encoding='utf-8')
                        for p in sorted((REPO / 'docs').rglob('*.md')))
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def build_model(cfg):
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['pretrained'] = None  # nothing to download here
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports['imports'] == ['mmdtf']
    model = build_model(cfg)
    clip_len = cfg.model.backbone.get('clip_len')
    # the pipelines sample what the backbone was built for
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        steps = cfg[loader].dataset.pipeline
        sample = [s for s in steps
                  if s['type'] in ('SampleFrames', 'SampleDetectionFrames')]
        assert len(sample) == 1, loader
        if clip_len is not None:
            assert sample[0]['clip_len'] == clip_len, loader
    assert sum(p.numel() for p in model.parameters()) > 1e5


#: (GPUs, clips per GPU) of the configs whose name has no `<gpus>xb<batch>`
#: (the README's alias of a conventionally named config)
BATCH_NOT_IN_NAME = {'dtf_r50_k400.py': (8, 32)}
#: (processes, clips per process) of the demo configs: one CPU process
#: (tools/demo/run_demo.py, tools/demo/run_coarse_fine_demo.py)
DEMO_BATCH = {'demo': (1, 8), 'coarse_fine/demo': (1, 4)}
#: the paper's lr at a total batch of 256, per backbone
PAPER_LR_AT_256 = {'ResNetDTF': 0.04, 'SwinDTF': 0.01,
                   # TIN: lr 0.02 for 8 GPUs x 6 clips (authors' code)
                   'ResNetTINShift': 0.02 * 256 / 48,
                   # Coarse-Fine: 0.02 at a batch of 6
                   'X3DCoarseFine': 0.02 * 256 / 6,
                   'ResNetMultiFormat': 0.04,
                   'ResNetTSMMultiFormat': 0.04}  # TCPNet: 0.015 at 96


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_lr_is_for_the_batch_in_the_name(path):
    """MMAction2's convention: the lr is for the total batch the name gives,
    `auto_scale_lr` is off with that batch as base, `--auto-scale-lr` turns
    it on."""
    cfg = Config.fromfile(str(path))
    match = re.search(r'_(\d+)xb(\d+)-', path.name)
    if match:
        gpus, per_gpu = map(int, match.groups())
    elif path.parent.name == 'demo':
        gpus, per_gpu = DEMO_BATCH[
            path.parent.relative_to(REPO / 'configs').as_posix()]
    else:
        gpus, per_gpu = BATCH_NOT_IN_NAME[path.name]
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr == dict(enable=False,
                                     base_batch_size=gpus * per_gpu)
    if path.parent.name != 'demo':
        paper_lr = PAPER_LR_AT_256[cfg.model.backbone.type]
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(
            paper_lr * gpus * per_gpu / 256)


def test_k400_recipe():
    cfg = Config.fromfile(str(REPO / 'configs' / 'dtf_r50_k400.py'))
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.optimizer.lr == 0.04
    assert cfg.optim_wrapper.clip_grad.max_norm == 40
    assert cfg.train_cfg.max_epochs == 128
    test_steps = {s['type']: s for s in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['SampleFrames']['num_clips'] == 10
    assert test_steps['ThreeCrop']['crop_size'] == 256
    assert cfg.model.cls_head.dropout_ratio == 0.5


@pytest.mark.parametrize('name', ['sthv1', 'sthv2'])
def test_something_something_has_no_flip(name):
    path, = (REPO / 'configs' / 'dtf').glob(f'dtf_*r50*_{name}-rgb.py')
    cfg = Config.fromfile(str(path))
    for loader in ('train_dataloader', 'test_dataloader'):
        types = [s['type'] for s in cfg[loader].dataset.pipeline]
        assert 'Flip' not in types
    test_steps = {s['type']: s for s in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['SampleFrames']['num_clips'] == 1
    assert 'ThreeCrop' in test_steps
    assert cfg.model.cls_head.num_classes == 174


def _write_child(directory: Path, base: str) -> Path:
    child = directory / 'my_project' / 'my_dtf.py'
    child.parent.mkdir(parents=True)
    child.write_text(f"_base_ = ['{base}']\n"
                     'model = dict(cls_head=dict(num_classes=7))\n')
    return child


def test_inherit_by_path_from_another_project(tmp_path):
    base = config_dir() / 'dtf_r50_k400.py'
    child = _write_child(tmp_path, str(base))
    cfg = Config.fromfile(str(child))
    assert cfg.model.cls_head.num_classes == 7
    assert cfg.model.backbone.type == 'ResNetDTF'
    assert build_model(cfg).cls_head.fc_cls.out_features == 7


def readme_user_config():
    """The README's example of a user config inheriting ours: its path (the
    first comment), its two `_base_` lines and its other statements."""
    block = re.search(r'```python\n# (your_project/\S+\.py)\n(.*?)```',
                      README, re.S)
    assert block, 'README: no user config example'
    lines = block.group(2).splitlines()
    bases = [line for line in lines if line.startswith('_base_ = ')]
    body = [line for line in lines
            if line and not line.startswith(('#', '_base_ = '))]
    return block.group(1), bases, '\n'.join(body) + '\n'


def test_inherit_by_the_readme_relative_path(tmp_path, monkeypatch):
    """Route (1) of the README, verbatim: `your_project/configs/my_dtf.py`
    next to a checkout named `mmdtf`, `_base_` relative to the file."""
    rel_path, (relative_base, _), body = readme_user_config()
    assert rel_path == 'your_project/configs/my_dtf.py'
    assert relative_base == "_base_ = ['../../mmdtf/configs/dtf_r50_k400.py']"
    shutil.copytree(REPO / 'configs', tmp_path / 'mmdtf' / 'configs',
                    ignore=shutil.ignore_patterns('__pycache__'))
    child = tmp_path / rel_path
    child.parent.mkdir(parents=True)
    child.write_text(f'{relative_base}\n{body}')
    elsewhere = tmp_path / 'elsewhere'  # resolved from the file, not the cwd
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = Config.fromfile(str(child))
    assert cfg.filename == str(child)
    assert cfg.model.type == 'Recognizer3D'
    assert cfg.model.backbone.type == 'ResNetDTF'
    assert cfg.model.cls_head.num_classes == 101
    assert cfg.custom_imports['imports'] == ['mmdtf']
    assert build_model(cfg).cls_head.fc_cls.out_features == 101


def test_inherit_through_environment_variable(tmp_path, monkeypatch):
    """Route (2) of the README, verbatim."""
    rel_path, (_, env_base), body = readme_user_config()
    assert '{{$MMDTF_CONFIGS:}}' in env_base
    child = tmp_path / rel_path
    child.parent.mkdir(parents=True)
    child.write_text(f'{env_base}\n{body}')
    monkeypatch.setenv('MMDTF_CONFIGS', str(config_dir()))
    cfg = Config.fromfile(str(child))
    assert cfg.model.backbone.type == 'ResNetDTF'
    assert cfg.model.cls_head.num_classes == 101
    assert build_model(cfg).cls_head.fc_cls.out_features == 101


def test_readme_best_checkpoint_is_the_file_mmengine_writes(tmp_path,
                                                            monkeypatch):
    """Every `mim test ... --checkpoint` path of the README matches exactly one
    file of a run with that config's checkpoint hook and evaluator, in the
    work dir MMAction2's train.py defaults to (./work_dirs/<config name>).
    The run itself is the demo model at 16 px for one epoch."""
    commands = re.findall(r'mim test mmaction2 (\S+) --checkpoint (\S+)',
                          README)
    assert commands
    data = tmp_path / 'data'
    helpers.make_demo_data(data, train_per_class=1, val_per_class=1)
    monkeypatch.chdir(tmp_path)
    for config, checkpoint in commands:
        recipe = Config.fromfile(str(REPO / config))
        assert recipe.default_hooks.checkpoint.save_best == 'auto'
        cfg = helpers.demo_config(data, size=16, max_epochs=1)
        cfg.default_hooks.checkpoint = recipe.default_hooks.checkpoint
        cfg.val_evaluator = recipe.val_evaluator
        cfg.work_dir = str(Path('work_dirs') / Path(config).stem)
        Runner.from_cfg(cfg).train()
        found = glob.glob(checkpoint)
        assert len(found) == 1, (checkpoint, os.listdir(cfg.work_dir))
        assert found[0].endswith('best_acc_top1_epoch_1.pth')


def test_readme_demo_checkpoint_paths():
    """`work_dirs/demo/<model>/epoch_N.pth` in the docs: tools/demo/run_demo.py
    writes to work_dirs/demo/<model>, and the demo configs save epoch_N.pth
    for their last epoch N."""
    paths = set(re.findall(r'work_dirs/demo/(\w+)/epoch_(\d+)\.pth', DOCS))
    assert paths
    run_demo = helpers.load_tool('demo/run_demo')
    assert "'--work-dir', default='work_dirs/demo'" in (
        REPO / 'tools' / 'demo' / 'run_demo.py').read_text()
    for name, epoch in paths:
        cfg = Config.fromfile(str(REPO / run_demo.MODELS[name][1]))
        assert int(epoch) == cfg.train_cfg.max_epochs
        assert int(epoch) % cfg.default_hooks.checkpoint.interval == 0


def test_config_dir_command_prints_the_directory(capsys):
    """`mmdtf-config-dir`, the console script setup.py installs."""
    from importlib.metadata import entry_points

    from mmdtf.utils.resources import main
    script, = entry_points(group='console_scripts', name='mmdtf-config-dir')
    assert script.value == 'mmdtf.utils.resources:main'
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert Path(capsys.readouterr().out.strip()) == config_dir()
    assert (config_dir() / 'dtf_r50_k400.py').is_file()
