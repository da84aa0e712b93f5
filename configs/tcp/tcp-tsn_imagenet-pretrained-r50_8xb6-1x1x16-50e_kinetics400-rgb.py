# TSN R50 + TCP at 16 segments: the 8-segment recipe with half the clips
# per GPU and the lr scaled with the batch (0.0075 for 48). The public
# script for 16 frames says --num_segments 8 and lr 0.00375 for 96 clips,
# apparently a copy of the 8-frame one; we keep the linear scaling.
_base_ = ['tcp-tsn_imagenet-pretrained-r50_8xb12-1x1x8-50e_kinetics400-rgb.py']

num_segments = 16
model = dict(cls_head=dict(num_segments=num_segments))
train_dataloader = dict(
    batch_size=6,
    dataset=dict(pipeline=[
        dict(s, num_clips=num_segments) if s['type'] == 'SampleFrames'
        else s for s in _base_.train_pipeline]))
val_dataloader = dict(
    batch_size=6,
    dataset=dict(pipeline=[
        dict(s, num_clips=num_segments) if s['type'] == 'SampleFrames'
        else s for s in _base_.val_pipeline]))
test_dataloader = dict(
    dataset=dict(pipeline=[
        dict(s, num_clips=10 * num_segments) if s['type'] == 'SampleFrames'
        else dict(s, num_segments=num_segments)
        if s['type'] == 'SegmentsToClips' else s
        for s in _base_.test_pipeline]))
optim_wrapper = dict(optimizer=dict(lr=0.0075))
auto_scale_lr = dict(base_batch_size=48)
