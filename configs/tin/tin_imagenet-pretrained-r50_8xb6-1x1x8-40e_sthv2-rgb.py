# TIN R50 (AAAI 2020) on Something-Something V2 videos, 8 segments, on
# `ResNetTINShift` (MMAction2's ResNetTIN on mmdtf's tin_shift;
# docs/models/tin.md).
# The TIN recipe, from the authors' Something-Something training command
# (github.com/deepcs233/TIN): SGD, lr 0.02 for a total batch of 48 (8 GPUs
# x 6), momentum 0.9, weight decay 5e-4, 1 epoch of linear warm-up, then
# cosine to 0 over 40 epochs, gradient norm clipped at 20, dropout 0.8,
# shift_div 4, the fc layer at 5x lr (10x for its bias: TSM's fc_lr5).
# MMAction2's TIN Something configs are this recipe at lr 0.01.
# TSN sampling of 8 segments; test: 8 segments, one 224 centre crop.
_base_ = [
    'mmaction::_base_/models/tin_r50.py',
    'mmaction::_base_/default_runtime.py'
]

custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)

num_segments = 8
model = dict(
    backbone=dict(
        type='ResNetTINShift',
        pretrained='torchvision://resnet50',
        num_segments=num_segments,
        shift_div=4),
    cls_head=dict(
        num_classes=174, num_segments=num_segments, dropout_ratio=0.8))

dataset_type = 'CheckedVideoDataset'
data_root = 'data/sthv2/videos'
data_root_val = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'

# No flipping: left/right is what some Something-Something classes are about.
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=6,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=6,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(val_dataloader, batch_size=1)  # one video a step

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

max_epochs = 40
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4),
    constructor='TSMOptimWrapperConstructor',
    paramwise_cfg=dict(fc_lr5=True),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=0,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True)
]
# The lr is for 8 GPUs x 6 clips; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=48)

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
