# DTF-Transformer Swin-B, Something-Something V2: the Kinetics-400 recipe
# over 64 epochs, no flipping (left/right is part of the labels), test
# 1 clip x 3 crops of 224. 32 consecutive frames (T = 8 inside the
# network): SSv2 videos are short (about 45 frames at 12 fps), so 64 frames
# with interval 2 would mostly loop; 16 frames would leave DTF T = 4, i.e.
# 3 frequency bins.
_base_ = [
    '../_base_/models/dtf_swin-b.py', '../_base_/datasets/sthv2_videos.py',
    '../_base_/schedules/sgd_cosine_64e.py'
]

clip_len = 32
# gradient checkpointing, as on Kinetics-400: 8 clips per card fit
model = dict(backbone=dict(clip_len=clip_len, with_cp=True),
             cls_head=dict(num_classes=174))

train_pipeline = [
    dict(type='DecordInit', **_base_.file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1),
    dict(type='DecordDecode'),
    dict(type='RandomRescale', scale_range=(256, 340)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
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
test_pipeline = [
    dict(type='DecordInit', **_base_.file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# lr 0.01 for batch 256 is 0.0025 for 8 x 8 (`--auto-scale-lr` rescales it)
optim_wrapper = dict(optimizer=dict(lr=0.0025))
auto_scale_lr = dict(base_batch_size=64)
