# TSN R50 + TCP (TCPNet, Gao et al. NeurIPS 2021) on Kinetics-400, 8
# segments, the paper's recipe (its script K400/train_K400_TCP_TSN_8f_R50.sh:
# SGD lr 0.015 for a batch of 96, steps at 20 and 40 of 50 epochs, dropout
# 0.5, weight decay 1e-4, gradient clip 20, TCP and classifier at 5x lr),
# res5 at stride 1 (14 x 14 features at 224 px) as in the paper. The paper
# starts from an ImageNet model trained with iSQRT-COV pooling (its TCP
# reduction layers included); that checkpoint is not public in MMAction2
# form, so the backbone is torchvision's ResNet-50 and the head starts from
# scratch. Test: 10 clips of 8 segments (TCPNet's ten_clips_sample) x 3
# crops of 256 px.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)

num_segments = 8
model = dict(
    type='Recognizer2D',
    backbone=dict(
        type='ResNet',
        pretrained='torchvision://resnet50',
        depth=50,
        strides=(1, 2, 2, 1),
        norm_eval=False),
    cls_head=dict(
        type='TCPHead',
        num_classes=400,
        in_channels=2048,
        num_segments=num_segments,
        mid_channels=256,
        tcp_channels=128,
        num_iterations=3,
        dropout_ratio=0.5,
        init_std=0.001,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))

dataset_type = 'CheckedVideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
file_client_args = dict(io_backend='disk')

train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224,
         scales=(1, 0.875, 0.75, 0.66), random_crop=False,
         max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
# 10 x num_segments frames over the video, regrouped into 10 clips of
# num_segments segments each (SegmentsToClips), x 3 crops of 256 px.
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=10 * num_segments, test_mode=True),
    dict(type='SegmentsToClips', num_segments=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=12,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=12,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=50, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=50, by_epoch=True,
         milestones=[20, 40], gamma=0.1)
]
# TCPNet's lr_x_factor: the whole head (reduction, attention, classifier)
# at 5x the backbone lr, by MMEngine's paramwise_cfg.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.015, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=5)}),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=3))
# `--auto-scale-lr` rescales lr 0.015 linearly from a total batch of 96.
auto_scale_lr = dict(enable=False, base_batch_size=96)
