# Demo peer: TIN R18 (MMAction2's ResNetTIN on mmdtf's tin_shift,
# `ResNetTINShift`): a 2D R18 with a temporal interlace before conv1 of every
# block, on the same 16 frames at 32 px, the same optimizer and 25 epochs as
# the other demo models. TIN samples one frame per segment (TSN sampling);
# with 16 segments of a 16-frame demo video that is every frame, i.e. the
# 16-frame clip the 3D demo models see, read as 16 images (NCHW) in order.
_base_ = ['dtf_r18_demo.py']

num_segments = 16  # = clip_len of dtf_r18_demo.py
model = dict(
    _delete_=True,
    type='Recognizer2D',
    backbone=dict(
        type='ResNetTINShift',
        depth=18,
        num_segments=num_segments,
        shift_div=4,
        pretrained=None,
        norm_eval=False),
    cls_head=dict(
        type='TSMHead',
        num_classes=8,
        in_channels=512,
        num_segments=num_segments,
        spatial_type='avg',
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.2,
        init_std=0.01,
        is_shift=False,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))


def _frames_as_images(pipeline):
    """The same clips as the base config, formatted as 16 images each:
    consecutive runs of `num_segments` images are one clip of one crop."""
    return [dict(step, input_format='NCHW') if step['type'] == 'FormatShape'
            else step for step in pipeline]


train_dataloader = dict(
    dataset=dict(pipeline=_frames_as_images(_base_.train_pipeline)))
val_dataloader = dict(
    dataset=dict(pipeline=_frames_as_images(_base_.val_pipeline)))
test_dataloader = dict(
    dataset=dict(pipeline=_frames_as_images(_base_.test_pipeline)))
