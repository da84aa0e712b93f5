# TSN R50 + TCP (TCPNet, Gao et al. NeurIPS 2021) on Kinetics-400, 8
# segments, the paper's recipe (its script K400/train_K400_TCP_TSN_8f_R50.sh:
# SGD lr 0.015 for a batch of 96, steps at 20 and 40 of 50 epochs, dropout
# 0.5, weight decay 1e-4, gradient clip 20, TCP and classifier at 5x lr),
# res5 at stride 1 (14 x 14 features at 224 px) as in the paper. The paper
# starts from TCPNet's ImageNet ResNet-50 trained with iSQRT-COV pooling (its
# TCP reduction layers included); here the backbone is torchvision's
# ResNet-50 and the head starts from scratch unless that file is given:
# --cfg-options model.backbone.pretrained=None
# load_from=/path/ImgeNet1K_GCP_R50.pth.tar (docs/models/tcp.md). Test: 10
# clips of 8 segments (TCPNet's ten_clips_sample) x 3 crops of 256 px. Data,
# train and val pipelines: MMAction2's own TSM R50 Kinetics-400 config.
_base_ = [
    'mmaction::recognition/tsm/'
    'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py'
]

custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)
# TCPNet's own checkpoints (its Kinetics-400 models, the GCP ImageNet
# ResNet-50) load as they are through load_from / --checkpoint
# (docs/models/tcp.md)
custom_hooks = [dict(type='TCPNetCheckpointHook')]

num_segments = 8
model = dict(
    _delete_=True,
    type='Recognizer2D',
    backbone=dict(
        type='ResNetMultiFormat',  # stock ResNet + timm/MMPretrain files
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
train_pipeline = _base_.train_pipeline
val_pipeline = _base_.val_pipeline
# 10 x num_segments frames over the video, regrouped into 10 clips of
# num_segments segments each (SegmentsToClips), x 3 crops of 256 px.
test_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=10 * num_segments, test_mode=True),
    dict(type='SegmentsToClips', num_segments=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(batch_size=12, dataset=dict(type=dataset_type))
val_dataloader = dict(batch_size=12, dataset=dict(type=dataset_type))
test_dataloader = dict(
    dataset=dict(type=dataset_type, pipeline=test_pipeline))

param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=50, by_epoch=True,
         milestones=[20, 40], gamma=0.1)
]
# TCPNet's lr_x_factor: the whole head (reduction, attention, classifier)
# at 5x the backbone lr, by MMEngine's paramwise_cfg.
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=0.015, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=5)}),
    clip_grad=dict(max_norm=20, norm_type=2))
# `--auto-scale-lr` rescales lr 0.015 linearly from a total batch of 96.
auto_scale_lr = dict(enable=False, base_batch_size=96)
