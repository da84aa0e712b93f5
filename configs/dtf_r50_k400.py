_base_ = ['./dtf/dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py']
