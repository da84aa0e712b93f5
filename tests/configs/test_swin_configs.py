"""The DTF-Transformer (SwinDTF) configs: models build and agree with their
pipelines, the recipes are the paper's, and the Swin-T K400 config runs one
training iteration and one 4 clips x 3 crops test step at reduced size."""
import copy
from pathlib import Path

import pytest
from mmaction.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.runner import Runner

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

REPO = Path(__file__).resolve().parents[2]
DTF = REPO / 'configs' / 'dtf'
CONFIGS = sorted(DTF.glob('dtf_swin*.py'))
SWIN_B_K400 = DTF / ('dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_'
                     'kinetics400-rgb.py')
SWIN_T_K400 = DTF / ('dtf_swin-t-p4-w7-in1k-pre_8xb8-64x2x1-128e_'
                     'kinetics400-rgb.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def steps_of(cfg, loader):
    return {s['type']: s for s in cfg[loader].dataset.pipeline}


def test_all_variants_are_there():
    names = {p.name for p in CONFIGS}
    assert {'dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
            'dtf_swin-s-p4-w7-in1k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
            'dtf_swin-t-p4-w7-in1k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py',
            'dtf_swin-b-p4-w7-in22k-pre_8xb8-32x1x1-64e_sthv2-rgb.py',
            'dtf_swin-b-p4-w7-in22k-pre_8xb8-32x1x1-64e_sthv1-rgb.py'
            } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_model_builds_and_matches_pipelines(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=['mmdtf'],
                                      allow_failed_imports=False)
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.pretrained.startswith(
        'https://github.com/SwinTransformer/storage/releases/download/')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pretrained = None  # nothing to download here
    model = MODELS.build(model_cfg)
    backbone = model.backbone
    assert type(backbone).__name__ == 'SwinDTF'
    assert model.cls_head.in_channels == backbone.num_features[-1]
    # the pipelines feed what the backbone was built for
    for loader in LOADERS:
        steps = steps_of(cfg, loader)
        assert steps['SampleFrames']['clip_len'] == backbone.clip_len, loader
        crop = (steps.get('ThreeCrop') or steps.get('CenterCrop')
                or {'crop_size': steps['Resize']['scale'][0]})['crop_size']
        assert (crop, crop) == backbone.img_size, loader


def test_k400_recipe():
    cfg = Config.fromfile(str(SWIN_B_K400))
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.clip_len, backbone.temporal_stride,
            backbone.window_size, backbone.drop_path_rate) == \
        ('base', 64, 4, 7, 0.5)
    assert backbone.pretrained.endswith('swin_base_patch4_window7_224_22k.pth')
    optimizer = cfg.optim_wrapper.optimizer
    # the paper's lr 0.01 at batch 256, scaled to the name's 8 x 8 = 64;
    # scaling to another batch is `--auto-scale-lr`'s job, as in MMAction2
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.0025, 0.9, 1e-4)
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=64)
    assert cfg.optim_wrapper.clip_grad.max_norm == 40
    assert [s['type'] for s in cfg.param_scheduler] == [
        'LinearLR', 'CosineAnnealingLR']
    assert cfg.train_cfg.max_epochs == 128
    assert cfg.model.cls_head.dropout_ratio == 0.5

    train = steps_of(cfg, 'train_dataloader')
    assert (train['SampleFrames']['clip_len'],
            train['SampleFrames']['frame_interval']) == (64, 2)
    assert 'Flip' in train
    test = steps_of(cfg, 'test_dataloader')
    assert test['SampleFrames']['num_clips'] == 4
    assert test['Resize']['scale'] == (-1, 224)
    assert test['ThreeCrop']['crop_size'] == 224


@pytest.mark.parametrize('name', ['sthv1', 'sthv2'])
def test_something_something(name):
    path, = DTF.glob(f'dtf_swin-b*_{name}-rgb.py')
    cfg = Config.fromfile(str(path))
    assert cfg.model.cls_head.num_classes == 174
    assert cfg.train_cfg.max_epochs == 64
    for loader in LOADERS:
        assert 'Flip' not in steps_of(cfg, loader)
    test = steps_of(cfg, 'test_dataloader')
    assert test['SampleFrames']['num_clips'] == 1
    assert test['ThreeCrop']['crop_size'] == 224
    decode = 'RawFrameDecode' if name == 'sthv1' else 'DecordDecode'
    assert decode in test


# --------------------------------------------------------------------------
# the Swin-T K400 config end to end, every size divided by 3.5 (224 -> 64).
# --------------------------------------------------------------------------

CLIP_LEN = 8


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    return helpers.write_two_class_videos(tmp_path_factory.mktemp('k400_swin'))


def tiny_cfg(root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(SWIN_T_K400))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(pretrained=None, clip_len=CLIP_LEN, img_size=64)
    cfg.model.cls_head.num_classes = 2
    for name, batch in (('train_dataloader', 2), ('test_dataloader', 1)):
        loader = cfg[name]
        loader.batch_size = batch
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.ann_file = str(root / 'list.txt')
        loader.dataset.data_prefix = dict(video=str(root / 'videos'))
        loader.dataset.pipeline = helpers.scale_pipeline(
            loader.dataset.pipeline, 3.5, clip_len=CLIP_LEN)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.pop('val_interval')
    cfg.train_cfg.pop('val_begin')
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1000, save_last=False)
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.randomness = dict(seed=0)
    return cfg


def test_test_pipeline_is_4_clips_x_3_crops(videos, tmp_path):
    cfg = tiny_cfg(videos, tmp_path)
    inputs = DATASETS.build(cfg.test_dataloader.dataset)[0]['inputs']
    assert tuple(inputs.shape) == (12, 3, CLIP_LEN, 64, 64)


def test_train_iteration_and_test_step(videos, tmp_path, monkeypatch):
    evaluated = helpers.record_accuracy_inputs(monkeypatch)
    cfg = tiny_cfg(videos, tmp_path)
    assert cfg.model.backbone.with_cp  # the K400 recipe checkpoints
    cfg.auto_scale_lr.enable = True  # what `--auto-scale-lr` does
    runner = Runner.from_cfg(cfg)
    head_inputs = helpers.record_head_inputs(runner.model)
    runner.train()
    assert runner.iter == 1
    # the logged loss is the cross entropy of what the head computed
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert len(head_inputs) == 1
    assert sorted(head_inputs[0][1].tolist()) == [0, 1]  # both videos
    assert loss == pytest.approx(helpers.cross_entropy_of(head_inputs[0]),
                                 rel=1e-5)
    # --auto-scale-lr: 0.0025 at batch 64 (the paper's 0.01 at 256) ->
    # batch 2 on one process
    lr = runner.optim_wrapper.optimizer.param_groups[0]['initial_lr']
    assert lr == pytest.approx(0.01 * 2 / 256)
    metrics = runner.test()
    assert len(evaluated) == 1
    assert metrics['acc/top1'] == pytest.approx(
        helpers.top1_of(evaluated[0]))
