# TSM R50 + TCP, 8 segments: the TSN + TCP recipe with MMAction2's
# ResNetTSM (temporal shift, 1/8 of the channels each way) as backbone, as
# ResNetTSMMultiFormat (it also reads timm / MMPretrain files).
_base_ = ['tcp-tsn_imagenet-pretrained-r50_8xb12-1x1x8-50e_kinetics400-rgb.py']

model = dict(
    backbone=dict(type='ResNetTSMMultiFormat', num_segments=8, shift_div=8))
