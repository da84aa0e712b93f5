# Table 1a "DTF_1d": a plain temporal convolution (all channels, kernel 3,
# R(2+1)D style) in place of the spectral filter. The DTF block's options
# are restated (_delete_): DTF's group_factor, use_corr and channel_mixing
# have no effect on a static convolution, and the block refuses them.
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        dtf_cfg=dict(
            _delete_=True,
            kernel_size=3,
            filter_type='conv1d',
            aggregate=True,
            backend='auto')))
