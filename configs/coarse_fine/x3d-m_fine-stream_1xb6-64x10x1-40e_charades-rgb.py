# The fine stream of Coarse-Fine Networks (public train_fine.py): X3D-M
# scoring every frame (no temporal pooling, no fusion), trained on Charades;
# tools/extract_fine_features.py then runs its frozen backbone over whole
# videos to make the features the coarse stream fuses.
_base_ = ['./coarse-fine_x3d-m_1xb6-64x10x1-40e_charades-rgb.py']

model = dict(
    backbone=dict(temporal_pool=None, fusion=None),
    cls_head=dict(fine_channels=None))

pack = dict(type='PackActionInputs', algorithm_keys=('frame_labels', ),
            meta_keys=('video_id', 'frame_times', 'duration', 'actions'))
train_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=64, frame_interval=10),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224,
         scales=(1, 0.875, 0.75, 0.66), random_crop=False, max_wh_scale_gap=1),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    pack,
]
test_pipeline = [
    dict(type='SampleDetectionFrames', clip_len=64, frame_interval=10,
         test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    pack,
]
train_dataloader = dict(dataset=dict(fine_feature_prefix=None,
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(fine_feature_prefix=None,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=None)
