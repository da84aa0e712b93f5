# Table 1 "DTF_1d": a channel-wise temporal convolution (kernel 3) in place
# of the spectral filter.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_cfg=dict(filter_type='conv1d')))
