# DTF-Net R50, Kinetics-400, 64 consecutive frames (T = 16 inside the
# network); 8 GPUs x 8 clips, lr scaled linearly from 0.04 at batch 256.
_base_ = ['./dtf_imagenet-pretrained-r50_8xb32-16x1x1-128e_kinetics400-rgb.py']

clip_len = 64
model = dict(backbone=dict(clip_len=clip_len))


def _sample_frames(pipeline):
    return [dict(step, clip_len=clip_len) if step['type'] == 'SampleFrames'
            else step for step in pipeline]


train_pipeline = _sample_frames(_base_.train_pipeline)
val_pipeline = _sample_frames(_base_.val_pipeline)
test_pipeline = _sample_frames(_base_.test_pipeline)
train_dataloader = dict(
    batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.01))
auto_scale_lr = dict(base_batch_size=64)
