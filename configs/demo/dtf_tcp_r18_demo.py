# Demo: the DTF-Net R18 demo (dtf_r18_demo.py) with TCPHead in place of
# I3DHead; everything else unchanged. The backbone's output has 16 / 4 = 4
# frames (its stem's temporal stride), hence num_segments=4.
_base_ = ['dtf_r18_demo.py']

model = dict(
    cls_head=dict(
        _delete_=True,
        type='TCPHead',
        num_classes=8,
        in_channels=512,
        num_segments=4,
        dropout_ratio=0.2,
        average_clips='prob'))
