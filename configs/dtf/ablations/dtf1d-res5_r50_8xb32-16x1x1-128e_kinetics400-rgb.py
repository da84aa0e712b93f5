# Table 1a "DTF_1d": a plain temporal convolution (all channels, kernel 3,
# R(2+1)D style) in place of the spectral filter. DTF's options that a static
# convolution does not read are unset (None): the block refuses them.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        dtf_cfg=dict(
            filter_type='conv1d',
            group_factor=None,
            use_corr=None,
            channel_mixing=None,
            estimator_norm=None)))
