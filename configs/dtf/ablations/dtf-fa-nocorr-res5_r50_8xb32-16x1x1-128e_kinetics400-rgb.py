# DTF with FA's aggregation but without the correlation feature.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_cfg=dict(aggregate=True, use_corr=False)))
