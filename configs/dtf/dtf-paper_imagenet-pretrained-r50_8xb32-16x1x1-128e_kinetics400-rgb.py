# DTF-Net R50, K400, 16 frames, with the paper's block
# (docs/models/dtf_blocks.md).
_base_ = ['./dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py']
model = dict(backbone=dict(dtf_cfg=dict(variant='paper')))
