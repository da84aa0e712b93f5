# Table 1a "DTF_F": one learned static frequency filter per channel. A static
# filter has no groups and reads no correlation: those options are unset
# (None).
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        dtf_cfg=dict(filter_type='static', group_factor=None,
                     use_corr=None, estimator_norm=None)))
