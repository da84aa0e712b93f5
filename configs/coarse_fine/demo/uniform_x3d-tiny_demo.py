# Detection demo (tools/data/make_detection_demo_dataset.py: 32-frame 8 px
# videos with short coloured events), variant (a): the coarse stream with
# UNIFORM temporal subsampling to K + 1 = 5 frames after layer1. The other
# variants change only what they name; all share data, model size and
# schedule.
custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)
default_scope = 'mmaction'

data_root = 'data/detection_demo'
num_classes = 4
clip_len = 32
frame_interval = 1  # the whole 32-frame video
pool_ratio = 8  # K = T / 8: 5 coarse frames of 32, 8 apart when uniform

model = dict(
    type='CoarseFineRecognizer',
    backbone=dict(
        type='X3DCoarseFine',
        gamma_w=0.5, gamma_b=2.25, gamma_d=1,  # tiny X3D: 16..128, conv5 288
        temporal_pool='uniform',
        pool_ratio=pool_ratio),
    cls_head=dict(
        type='PerFrameMultiLabelHead',
        num_classes=num_classes,
        in_channels=288,
        mid_channels=64,
        dropout_ratio=0.2,
        bias_prior=0.07),  # ~7% of frames have a given class
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[90., 90., 90.], std=[60., 60., 60.], format_shape='NCTHW'))

meta_keys = ('video_id', 'frame_times', 'duration', 'actions')
algorithm_keys = ('frame_labels', )
train_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=clip_len,
         frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', algorithm_keys=algorithm_keys,
         meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=clip_len,
         frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', algorithm_keys=algorithm_keys,
         meta_keys=meta_keys),
]
dataset = dict(type='CharadesDataset', num_classes=num_classes,
               data_prefix=dict(img=f'{data_root}/rgb'),
               filename_tmpl='{video_id}-{:06d}.png')
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file=f'{data_root}/train.csv',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file=f'{data_root}/val.csv',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='CharadesMAP')
test_evaluator = val_evaluator

max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_begin=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# AdamW, not the paper's SGD: a few hundred CPU steps, from scratch
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=40, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs,
                        by_epoch=True, eta_min=1e-5)]

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=8, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
log_processor = dict(type='LogProcessor', window_size=8, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
