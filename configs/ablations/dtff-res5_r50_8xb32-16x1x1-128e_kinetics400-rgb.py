# Table 1 "DTF_F": one learned static frequency filter per channel.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_cfg=dict(filter_type='static')))
