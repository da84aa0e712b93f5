# DTF-Net R101, Kinetics-400, 16 frames.
_base_ = ['dtf_r50_k400.py']

model = dict(
    backbone=dict(depth=101, pretrained='torchvision://resnet101'))
