# DTF-Transformer Swin-B, Something-Something V1 (JPEG frames, MMAction2's
# rawframe layout), 32 frames: the V2 recipe on frames instead of videos.
_base_ = ['dtf_swin-b-p4-w7-in22k-pre_8xb8-32x1x1-64e_sthv2-rgb.py']

dataset_type = 'RawframeDataset'
data_root = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
filename_tmpl = '{:05}.jpg'


def _frames(pipeline):
    """The V2 pipeline with JPEG frames in place of decord decoding."""
    steps = [step for step in pipeline if step['type'] != 'DecordInit']
    return [dict(type='RawFrameDecode') if step['type'] == 'DecordDecode'
            else step for step in steps]


train_pipeline = _frames(_base_.train_pipeline)
val_pipeline = _frames(_base_.val_pipeline)
test_pipeline = _frames(_base_.test_pipeline)
train_dataloader = dict(
    dataset=dict(type=dataset_type, ann_file=ann_file_train,
                 data_prefix=dict(_delete_=True, img=data_root),
                 filename_tmpl=filename_tmpl, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(_delete_=True, img=data_root),
                 filename_tmpl=filename_tmpl, pipeline=val_pipeline))
test_dataloader = dict(
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(_delete_=True, img=data_root),
                 filename_tmpl=filename_tmpl, pipeline=test_pipeline))
