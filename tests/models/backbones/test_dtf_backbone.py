"""DTFBackbone: the contract ResNetDTF and SwinDTF share, checked on both
(the same words in their errors, the model returned by train/eval, every
DTF block the identity after init_weights)."""
import pytest
import torch

from mmdtf.models import DTFBlock, ResNetDTF, SwinDTF

SWIN_ARCH = dict(embed_dims=32, depths=[2, 2], num_heads=[1, 2])
BACKBONES = {
    'ResNetDTF': lambda **kw: ResNetDTF(18, dtf_cfg=dict(group_factor=8),
                                        **kw),
    'SwinDTF': lambda **kw: SwinDTF(SWIN_ARCH, dtf_cfg=dict(group_factor=8),
                                    img_size=32, out_indices=(1, ), **kw),
}


@pytest.mark.parametrize('name', BACKBONES)
def test_train_and_eval_return_the_model(name):
    model = BACKBONES[name](clip_len=8)
    assert model.eval() is model and not model.training
    assert model.train() is model and model.training


@pytest.mark.parametrize('name', BACKBONES)
def test_clip_len_not_a_multiple_of_the_stride(name):
    with pytest.raises(ValueError) as info:
        BACKBONES[name](clip_len=10, temporal_stride=4)
    assert str(info.value) == (
        f'{name}: clip_len=10 must be a positive multiple of '
        'temporal_stride=4; set `model.backbone.clip_len` and '
        '`model.backbone.temporal_stride`.')


@pytest.mark.parametrize('name', BACKBONES)
@pytest.mark.parametrize('shape', [(1, 3, 4, 32, 32), (3, 8, 32, 32)])
def test_other_clips_are_refused_naming_the_key(name, shape):
    model = BACKBONES[name](clip_len=8)
    with pytest.raises(ValueError) as info:
        model(torch.zeros(shape))
    assert str(info.value) == (
        f'{name} expects clips of shape (N, C, T=8, H, W) (format_shape '
        f'NCTHW), got {shape}; set `model.backbone.clip_len` to the '
        '`clip_len` of SampleFrames in the pipeline.')


@pytest.mark.parametrize('name', BACKBONES)
def test_init_weights_makes_every_dtf_block_the_identity(name):
    model = BACKBONES[name](clip_len=8, temporal_stride=2)
    blocks = [m for m in model.modules() if isinstance(m, DTFBlock)]
    assert blocks and all(b.num_frames == 4 for b in blocks)
    for block in blocks:
        torch.nn.init.ones_(block.gamma)
        torch.nn.init.ones_(block.beta)
    model.init_weights()
    for block in blocks:
        assert not block.gamma.any() and not block.beta.any()
        x = torch.randn(1, block.in_channels, 4, 3, 3)
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)
