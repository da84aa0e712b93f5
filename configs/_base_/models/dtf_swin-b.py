# DTF-Transformer Swin-B: 64 frames -> T = 16 after the
# (4, 4, 4) tubelet embedding, a 2D Swin-B (window 7) on every frame, DTF in
# every block with a regular window (at 224 px both blocks of the last stage).
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='SwinDTF',
        arch='base',
        clip_len=64,
        temporal_stride=4,
        img_size=224,  # the crop size: decides which blocks get DTF
        patch_size=4,
        window_size=7,
        drop_path_rate=0.5,
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
        # official Swin layout; timm and MMPretrain checkpoints load as well
        pretrained=  # noqa: E251
        'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224_22k.pth',  # noqa: E501
        pretrained2d=True,
        with_cp=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=400,
        in_channels=1024,
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
