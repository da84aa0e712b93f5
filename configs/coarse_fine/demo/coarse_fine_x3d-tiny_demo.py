# Detection demo, variant (c): full Coarse-Fine, Grid Pool + Multi-stage
# Fusion of the frozen fine stream's features (data_root/fine_features,
# written by tools/data/extract_fine_features.py from the fine-stream run).
_base_ = ['uniform_x3d-tiny_demo.py']
fine_root = f'{_base_.data_root}/fine_features'
model = dict(
    backbone=dict(temporal_pool='grid', fusion=dict(sigma_ratio=1 / 8)),
    cls_head=dict(fine_channels=288))
algorithm_keys = ('frame_labels', 'fine_feats', 'clip_span')


def _with_fine(pipeline):
    steps = []
    for step in pipeline:
        if step['type'] == 'PackActionInputs':
            step = dict(step, algorithm_keys=algorithm_keys)
        steps.append(step)
        if step['type'] == 'RawFrameDecode':
            steps.append(dict(type='LoadFineFeatures'))
    return steps


train_dataloader = dict(dataset=dict(
    fine_feature_prefix=fine_root,
    pipeline=_with_fine(_base_.train_pipeline)))
val_dataloader = dict(dataset=dict(
    fine_feature_prefix=fine_root,
    pipeline=_with_fine(_base_.test_pipeline)))
test_dataloader = val_dataloader
