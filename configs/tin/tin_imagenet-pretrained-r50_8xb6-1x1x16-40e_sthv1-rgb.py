# TIN R50, Something-Something V1 (JPEG frames), 16 segments.
_base_ = ['tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv1-rgb.py']

num_segments = 16
model = dict(
    backbone=dict(num_segments=num_segments),
    cls_head=dict(num_segments=num_segments))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(s, num_clips=num_segments) if s['type'] == 'SampleFrames' else s
    for s in _base_.train_pipeline]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(s, num_clips=num_segments) if s['type'] == 'SampleFrames' else s
    for s in _base_.val_pipeline]))
test_dataloader = val_dataloader
