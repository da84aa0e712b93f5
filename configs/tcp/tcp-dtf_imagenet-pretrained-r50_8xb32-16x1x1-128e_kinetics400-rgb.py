# DTF-Net R50 + TCP on Kinetics-400, 16 frames (no paper has it): our
# DTF-Net recipe with TCPHead in place of I3DHead and the head at 5x lr
# (TCPNet's lr_x_factor). The backbone output has 16 / 4 = 4 frames (the
# stem's temporal stride), hence num_segments=4.
_base_ = [
    '../dtf/dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py'
]

model = dict(
    cls_head=dict(
        _delete_=True,
        type='TCPHead',
        num_classes=400,
        in_channels=2048,
        num_segments=4,
        dropout_ratio=0.5,
        init_std=0.001,
        average_clips='prob'))
dataset_type = 'CheckedVideoDataset'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type))
test_dataloader = dict(dataset=dict(type=dataset_type))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=5)}))
