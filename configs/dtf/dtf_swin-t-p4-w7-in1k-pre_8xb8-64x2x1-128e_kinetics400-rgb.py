# DTF-Transformer Swin-T, Kinetics-400: the Swin-B recipe with the tiny
# backbone (ImageNet-1K weights) and Swin-T's ImageNet drop path rate.
_base_ = ['./dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.2,
        pretrained=  # noqa: E251
        'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa: E501
    ),
    cls_head=dict(in_channels=768))
