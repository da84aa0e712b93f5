# Detection demo, variant (b): Grid Pool instead of uniform subsampling,
# same K.
_base_ = ['uniform_x3d-tiny_demo.py']
model = dict(backbone=dict(temporal_pool='grid'))
