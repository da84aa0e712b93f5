_base_ = ['./dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py']
