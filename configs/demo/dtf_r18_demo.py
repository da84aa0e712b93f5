# Embedded demo: a small DTF-Net (R18, 32 px, 16 frames, DTF in every stage)
# on the synthetic temporal-order dataset of tools/data/make_demo_dataset.py.
# CPU friendly: a few minutes on 2 cores.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)

clip_len = 16
num_classes = 8
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNetDTF',
        depth=18,
        clip_len=clip_len,
        temporal_stride=4,
        dtf_stages=(True, True, True, True),
        # the paper configs' block (docs/reports/channel_mixing.md)
        dtf_cfg=dict(kernel_size=3, group_factor=16, channel_mixing=False,
                     estimator_norm='rms'),
        pretrained=None),
    cls_head=dict(
        type='I3DHead',
        num_classes=num_classes,
        in_channels=512,
        spatial_type='avg',
        dropout_ratio=0.2,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

dataset_type = 'CheckedVideoDataset'  # names a bad video's file and line
data_root = 'data/demo/videos'
ann_file_train = 'data/demo/train_list.txt'
ann_file_val = 'data/demo/val_list.txt'
input_format = 'NCTHW'

# No flipping: left/right is what some classes are about.
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(36, 36), keep_ratio=False),
    dict(type='RandomCrop', size=32),
    dict(type='FormatShape', input_format=input_format),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(36, 36), keep_ratio=False),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format=input_format),
    dict(type='PackActionInputs')
]
# The paper's test protocol: 10 clips x 3 crops, scores averaged.
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    # Frames at the training scale (36 x 36, as train and val), then three
    # 32 px crops along the width: ThreeCrop needs one side equal to the
    # crop size, so the middle 32 rows are kept first (CenterCrop's size is
    # (w, h)). Each crop is a window the training RandomCrop can draw; at
    # 32 px res5 is 1 x 1, and a larger test crop changes what the network
    # sees.
    dict(type='Resize', scale=(36, 36), keep_ratio=False),
    dict(type='CenterCrop', crop_size=(36, 32)),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format=input_format),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

max_epochs = 25
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True)
]
# The lr is for one process x 8 clips; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None),
    logger=dict(interval=10))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
