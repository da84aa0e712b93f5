# DTF baseline without Frame-wise Aggregation: no aggregation, no correlation.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_cfg=dict(aggregate=False, use_corr=False)))
