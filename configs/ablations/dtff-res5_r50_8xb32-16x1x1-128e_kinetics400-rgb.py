# Table 1a "DTF_F": one learned static frequency filter per channel. A
# static filter has no groups and reads no correlation: the block's options
# are restated without group_factor and use_corr (_delete_).
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        dtf_cfg=dict(
            _delete_=True,
            kernel_size=3,
            filter_type='static',
            aggregate=True,
            channel_mixing=True,
            backend='auto')))
