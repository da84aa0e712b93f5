# The conventional MMAction2 name of dtf_swin-b_k400.py: Swin-B, patch 4,
# window 7, ImageNet-22K weights, 8 GPUs x 8 clips of 64 frames with
# interval 2, 128 epochs.
_base_ = ['dtf_swin-b_k400.py']
