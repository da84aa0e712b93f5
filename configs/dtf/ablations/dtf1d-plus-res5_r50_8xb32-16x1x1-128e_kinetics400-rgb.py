# Table 1a "DTF_1d+": dynamic convolution in 1D. At every location a 1x1
# convolution estimates, from the input of DTF's filter estimator (FA's
# feature and correlation over all frames), one kernel-3 temporal kernel per
# group of 16 channels. The channel mixing belongs to the spectral filters:
# unset (None).
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        dtf_cfg=dict(filter_type='dynamic_conv1d', channel_mixing=None)))
