# DTF with FA's correlation feature but without its aggregation.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_cfg=dict(aggregate=False, use_corr=True)))
