# Detection demo, variant (b): Grid Pool instead of uniform subsampling,
# same K.
_base_ = ['x3d-tiny_uniform_1xb4-32x1x1-30e_detection-demo.py']
model = dict(backbone=dict(temporal_pool='grid'))
