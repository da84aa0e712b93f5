# DTF-Net R101, Kinetics-400, 16 frames.
_base_ = ['./dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(depth=101, pretrained='torchvision://resnet101'))
