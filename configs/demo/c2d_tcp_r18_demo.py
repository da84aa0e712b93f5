# Demo: the C2D R18 baseline (c2d_r18_demo.py: dtf_r18_demo.py with every
# DTF block off) with TCPHead in place of I3DHead; everything else
# unchanged: dtf_tcp_r18_demo.py with the DTF blocks off.
_base_ = ['dtf_tcp_r18_demo.py']

model = dict(backbone=dict(dtf_stages=(False, False, False, False)))
