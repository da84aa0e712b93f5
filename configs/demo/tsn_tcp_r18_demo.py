# Demo: the TSN R18 baseline (tsn_r18_demo.py) with TCPHead in place of
# TSNHead; backbone, data, schedule and optimizer unchanged. The 10-clip
# test samples the same 80 frames as TSN; SegmentsToClips regroups them into
# 10 clips of 8 segments over the whole video (TCPNet's ten_clips_sample),
# the layout TCPHead reads.
_base_ = ['tsn_r18_demo.py']

num_segments = 8
model = dict(
    cls_head=dict(
        _delete_=True,
        type='TCPHead',
        num_classes=8,
        in_channels=512,
        num_segments=num_segments,
        dropout_ratio=0.2,
        average_clips='prob'))


def _clip_major(pipeline):
    steps = []
    for step in pipeline:
        steps.append(step)
        if step['type'] == 'SampleFrames':
            steps.append(dict(type='SegmentsToClips',
                              num_segments=num_segments))
    return steps


train_dataloader = dict(
    dataset=dict(pipeline=_clip_major(_base_.train_dataloader.dataset.pipeline)))
val_dataloader = dict(
    dataset=dict(pipeline=_clip_major(_base_.val_dataloader.dataset.pipeline)))
test_dataloader = dict(
    dataset=dict(pipeline=_clip_major(_base_.test_dataloader.dataset.pipeline)))
