# Demo baseline: TSN-style 2D R18 (MMAction2's own Recognizer2D, ResNet and
# TSNHead) on 8 segments: every frame alone, scores averaged; no temporal
# modelling.
_base_ = ['dtf_r18_demo.py']

model = dict(
    _delete_=True,
    type='Recognizer2D',
    backbone=dict(type='ResNet', depth=18, pretrained=None, norm_eval=False),
    cls_head=dict(
        type='TSNHead',
        num_classes=8,
        in_channels=512,
        spatial_type='avg',
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.2,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))


def _per_frame(pipeline):
    """TSN sampling: 8 segments of one frame each, frames as images."""
    steps = []
    for step in pipeline:
        if step['type'] == 'FormatShape':
            step = dict(step, input_format='NCHW')
        elif step['type'] == 'SampleFrames':
            step = dict(step, clip_len=1, num_clips=8 * step['num_clips'])
        steps.append(step)
    return steps


train_dataloader = dict(
    dataset=dict(pipeline=_per_frame(_base_.train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=_per_frame(_base_.val_pipeline)))
test_dataloader = dict(
    dataset=dict(pipeline=_per_frame(_base_.test_pipeline)))
