# TIN R50, Kinetics-400 videos, 8 segments, from ImageNet weights: the TIN
# recipe of the Something-Something configs (lr 0.02 for 8 x 6 clips, SGD,
# weight decay 5e-4, warm-up + cosine, clipping at 20, shift_div 4) over the
# 50 epochs of TSM's Kinetics schedule, which TIN builds on, with Kinetics'
# dropout 0.5 and horizontal flips. (MMAction2's TIN Kinetics config instead
# fine-tunes a Kinetics TSM for 50 epochs at lr 0.01 with steps.)
_base_ = ['tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv2-rgb.py']

model = dict(cls_head=dict(num_classes=400, dropout_ratio=0.5))

data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'

# Something-Something's pipeline with a flip before formatting.
train_pipeline = [
    step for base_step in _base_.train_pipeline
    for step in ([dict(type='Flip', flip_ratio=0.5), base_step]
                 if base_step['type'] == 'FormatShape' else [base_step])
]
train_dataloader = dict(
    dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root),
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(ann_file=ann_file_val,
                 data_prefix=dict(video=data_root_val)))
test_dataloader = val_dataloader

max_epochs = 50
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=0,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True)
]
