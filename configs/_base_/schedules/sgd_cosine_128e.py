# The DTF paper's schedule, on MMAction2's default runtime: SGD (momentum
# 0.9, weight decay 1e-4, gradient norm clipped at 40), 8 epochs of linear
# warm-up, then cosine to 0 at epoch 128; validation every 4 epochs, the
# last 3 checkpoints and the best top-1 kept. lr 0.04 is for a total batch
# of 256: a recipe with another batch sets optim_wrapper.optimizer.lr and
# auto_scale_lr.base_batch_size (`--auto-scale-lr` rescales from it).
_base_ = ['mmaction::_base_/default_runtime.py']

max_epochs = 128
warmup_epochs = 8
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=0, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True)
]

default_hooks = dict(
    checkpoint=dict(interval=4, max_keep_ckpts=3, save_best='auto'),
    logger=dict(interval=100))

auto_scale_lr = dict(enable=False, base_batch_size=256)
