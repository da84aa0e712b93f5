# Something-Something V2 videos in MMAction2's layout (MMAction2's
# tools/data/sthv2): the Kinetics-400 dataloaders on other files. The
# recipes set the pipelines (no flipping: left/right is part of the labels).
_base_ = ['kinetics400_videos.py']

data_root = 'data/sthv2/videos'
data_root_val = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_videos.txt'

train_dataloader = dict(
    dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(
    dataset=dict(ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = dict(
    dataset=dict(ann_file=ann_file_test,
                 data_prefix=dict(video=data_root_val)))
