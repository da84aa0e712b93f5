# The fine stream of Coarse-Fine Networks (public train_fine.py): X3D-M
# scoring every frame (no temporal pooling, no fusion), trained on Charades;
# tools/data/extract_fine_features.py then runs its frozen backbone over whole
# videos to make the features the coarse stream fuses.
_base_ = ['./coarse-fine_x3d-m_1xb6-64x10x1-40e_charades-rgb.py']

model = dict(
    backbone=dict(temporal_pool=None, fusion=None),
    cls_head=dict(fine_channels=None))



def _without_fine(pipeline):
    """The coarse pipelines minus fine features."""
    steps = []
    for step in pipeline:
        if step['type'] == 'LoadFineFeatures':
            continue
        if step['type'] == 'PackActionInputs':
            step = dict(step, algorithm_keys=('frame_labels', ))
        steps.append(step)
    return steps


train_dataloader = dict(dataset=dict(
    fine_feature_prefix=None,
    pipeline=_without_fine(_base_.train_pipeline)))
val_dataloader = dict(dataset=dict(
    fine_feature_prefix=None, pipeline=_without_fine(_base_.test_pipeline)))
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=None)
