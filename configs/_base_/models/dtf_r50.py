# DTF-Net R50: 16 frames -> T = 4 after the (4, 7, 7) stem.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNetDTF',
        depth=50,
        clip_len=16,
        temporal_stride=4,
        dtf_stages=(True, True, True, True),
        dtf_cfg=dict(
            kernel_size=3,
            group_factor=16,
            filter_type='dynamic',
            aggregate=True,
            use_corr=True,
            # the block (docs/models/dtf_blocks.md): 'mmdtf' (no complex
            # channel mixing, a scale-free filter estimator input:
            # docs/reports/channel_mixing.md), 'paper' or 'authors'
            variant='mmdtf',
            backend='auto'),
        pretrained='torchvision://resnet50',
        norm_eval=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=400,
        in_channels=2048,
        spatial_type='avg',
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

custom_imports = dict(imports=['mmdtf'], allow_failed_imports=False)
