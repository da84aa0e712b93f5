# TSM R50 + TCP, 16 segments: the 16-segment TSN + TCP recipe with
# MMAction2's ResNetTSM as backbone.
_base_ = ['tcp-tsn_imagenet-pretrained-r50_8xb6-1x1x16-50e_kinetics400-rgb.py']

model = dict(
    backbone=dict(type='ResNetTSMMultiFormat', num_segments=16, shift_div=8))
