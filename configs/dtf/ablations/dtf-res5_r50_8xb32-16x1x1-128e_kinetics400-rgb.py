# Paper table 1 setting: DTF in res5 only (R50, 16 frames). The other rows of
# table 1 inherit from this file and change the DTF block's variant.
_base_ = [
    '../dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py'
]

model = dict(backbone=dict(dtf_stages=(False, False, False, True)))
