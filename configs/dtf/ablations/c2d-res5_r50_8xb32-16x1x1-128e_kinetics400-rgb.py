# Table 1 "2D" row: the same network with no DTF block (C2D R50).
_base_ = ['dtf-res5_r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

model = dict(backbone=dict(dtf_stages=(False, False, False, False)))
