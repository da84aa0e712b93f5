# Demo baseline: the same network as dtf_r18_demo.py with every DTF block off
# (C2D). Its only temporal modelling is the stem's 4-frame kernel.
_base_ = ['dtf_r18_demo.py']

model = dict(backbone=dict(dtf_stages=(False, False, False, False)))
