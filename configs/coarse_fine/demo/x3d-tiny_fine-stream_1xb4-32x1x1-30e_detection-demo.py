# Detection demo: the fine stream (every clip frame kept, no pooling), whose
# frozen features tools/extract_fine_features.py writes for variant (c).
_base_ = ['x3d-tiny_uniform_1xb4-32x1x1-30e_detection-demo.py']
model = dict(backbone=dict(temporal_pool=None))
