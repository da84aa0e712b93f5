# Detection demo: the fine stream (every clip frame kept, no pooling), whose
# frozen features tools/data/extract_fine_features.py writes for variant (c).
_base_ = ['uniform_x3d-tiny_demo.py']
model = dict(backbone=dict(temporal_pool=None))
