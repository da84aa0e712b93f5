# Coarse-Fine Networks (Kahatapitiya & Ryoo, CVPR 2021) on Charades,
# localisation setting. The paper's recipe (public train_coarse_fineFEAT.py):
# X3D-M coarse stream on 64 frames 10 apart (a 640-frame window at 24 fps),
# Grid Pool after layer1 to K + 1 = 17 frames, fine features of the whole
# video (every 10th frame) from a frozen Charades-trained X3D-M
# (configs/coarse_fine/x3d-m_fine-stream_...,
# tools/data/extract_fine_features.py),
# SGD lr 0.02 (x10 on the fusion layers), momentum 0.9, wd 1e-5, batch 6,
# lr / 10 at epochs 15, 25, 35. Testing, as the public code: every video
# whole at the training frame rate (every 10th frame), one per batch, with
# K = T / 4.
custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)
default_scope = 'mmaction'

num_classes = 157
clip_len = 64
frame_interval = 10
data_root = 'data/charades/Charades_v1_rgb'
# written by tools/data/extract_fine_features.py
fine_root = 'data/charades/fine_features'
ann_file_train = 'data/charades/Charades_v1_train.csv'
ann_file_test = 'data/charades/Charades_v1_test.csv'

model = dict(
    type='CoarseFineRecognizer',
    backbone=dict(
        type='X3DCoarseFine',
        gamma_w=1, gamma_b=2.25, gamma_d=2.2,  # X3D-M
        temporal_pool='grid',
        pool_ratio=4,  # K = T / 4: Grid Pool keeps 17 of 64 training frames
        fusion=dict(sigma_ratio=1 / 8)),
    cls_head=dict(
        type='PerFrameMultiLabelHead',
        num_classes=num_classes,
        in_channels=432,
        mid_channels=2048,
        dropout_ratio=0.5,
        fine_channels=432),  # logit-level fusion with the fine conv5
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        # Charades frame statistics used by the public code
        mean=[105.3, 93.8, 86.2],
        std=[33.4, 31.9, 33.7],
        format_shape='NCTHW'))

pack = dict(type='PackActionInputs',
            algorithm_keys=('frame_labels', 'fine_feats', 'clip_span'),
            meta_keys=('video_id', 'frame_times', 'duration', 'actions'))
train_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=clip_len,
         frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='LoadFineFeatures'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224,
         scales=(1, 0.875, 0.75, 0.66), random_crop=False, max_wh_scale_gap=1),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    pack,
]
test_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=clip_len,
         frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='LoadFineFeatures'),
    # the public test view: the centre square of the whole short side
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    pack,
]
dataset = dict(type='CharadesDataset', data_prefix=dict(img=data_root),
               fine_feature_prefix=fine_root, num_classes=num_classes)
train_dataloader = dict(
    batch_size=6, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file=ann_file_train, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file=ann_file_test, pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='CharadesMAP')
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_begin=1,
                 val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-5),
    # 10x lr on the fusion layers (public code: names with 'rw' or 'mix')
    paramwise_cfg=dict(custom_keys={
        'backbone.fusion': dict(lr_mult=10.0),
        'cls_head.logit_fusion': dict(lr_mult=10.0)}),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=40, by_epoch=True,
         milestones=[15, 25, 35], gamma=0.1)]
auto_scale_lr = dict(enable=False, base_batch_size=6)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto',
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
# X3D-M Kinetics-400 weights (MMAction2's conversion of the official ones);
# loaded non-strictly: Grid Pool, fusion and the head start fresh.
load_from = ('https://download.openmmlab.com/mmaction/recognition/x3d/'
             'facebook/x3d_m_facebook_16x5x1_kinetics400_rgb_20201027-'
             '3f42382a.pth')
resume = False
