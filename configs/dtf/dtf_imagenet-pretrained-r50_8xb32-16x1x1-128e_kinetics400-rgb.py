# DTF-Net R50, Kinetics-400, 16 consecutive frames, the paper's recipe
# for 8 GPUs x 32 clips = batch 256 (lr 0.04: _base_/schedules/).
_base_ = [
    '../_base_/models/dtf_r50.py', '../_base_/datasets/kinetics400_videos.py',
    '../_base_/schedules/sgd_cosine_128e.py'
]

clip_len = 16  # frames per clip: the sampler's and the backbone's
model = dict(backbone=dict(clip_len=clip_len))

train_pipeline = [
    dict(type='DecordInit', **_base_.file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1),
    dict(type='DecordDecode'),
    dict(type='RandomRescale', scale_range=(256, 340)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **_base_.file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# 10 uniformly sampled clips x 3 crops of 256 x 256, scores averaged.
test_pipeline = [
    dict(type='DecordInit', **_base_.file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
