"""mmdtf.models.weights.swin2d against the key names and the
patch-merging order of the real libraries, written out here as they are in
microsoft/Swin-Transformer, timm (timm/models/swin_transformer.py) and
MMPretrain (mmpretrain/models/backbones/swin_transformer.py with MMCV's
PatchEmbed / FFN / PatchMerging); not made by inverting the conversion.
(Round trips through a 2D reference network: test_swin_dtf.py.)"""
import functools

import pytest
import torch
from mmaction.models.backbones.swin import PatchMerging, SwinTransformer3D
from mmcv.cnn.bricks.transformer import PatchMerging as MMCVPatchMerging

from mmdtf.models import SwinDTF
from mmdtf.models.weights.swin2d import (convert_swin2d, detect_format,
                                         load_swin2d_checkpoint,
                                         unfold_to_concat_order)

DEPTHS = {'tiny': (2, 2, 6, 2), 'base': (2, 2, 18, 2)}

# One Swin block's parameters (and persistent buffers), per library.
# microsoft/Swin-Transformer (and timm < 0.9): WindowAttention keeps
# relative_position_index as a persistent buffer; shifted blocks save their
# attn_mask (none in the last stage at 224: 7 x 7 tokens, no shift).
OFFICIAL_BLOCK = (
    'norm1.weight', 'norm1.bias', 'attn.relative_position_bias_table',
    'attn.relative_position_index', 'attn.qkv.weight', 'attn.qkv.bias',
    'attn.proj.weight', 'attn.proj.bias', 'norm2.weight', 'norm2.bias',
    'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias')
# timm >= 0.9: relative_position_index and attn_mask are non-persistent.
TIMM_BLOCK = tuple(k for k in OFFICIAL_BLOCK
                   if k != 'attn.relative_position_index')
# MMPretrain: ShiftWindowMSA wraps WindowMSA as `w_msa` (persistent
# relative_position_index); MMCV's FFN is layers.0 = (Linear, GELU,
# Dropout), layers.1 = Linear.
MMPRETRAIN_BLOCK = (
    'norm1.weight', 'norm1.bias', 'attn.w_msa.relative_position_bias_table',
    'attn.w_msa.relative_position_index', 'attn.w_msa.qkv.weight',
    'attn.w_msa.qkv.bias', 'attn.w_msa.proj.weight', 'attn.w_msa.proj.bias',
    'norm2.weight', 'norm2.bias', 'ffn.layers.0.0.weight',
    'ffn.layers.0.0.bias', 'ffn.layers.1.weight', 'ffn.layers.1.bias')
MERGING = ('norm.weight', 'norm.bias', 'reduction.weight')


def official_keys(depths):
    """swin_{tiny,base}_patch4_window7_224.pth: {'model': {...}}."""
    keys = ['patch_embed.proj.weight', 'patch_embed.proj.bias',
            'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        for j in range(depth):
            keys += [f'layers.{i}.blocks.{j}.{k}' for k in OFFICIAL_BLOCK]
            if j % 2 and i < 3:
                keys.append(f'layers.{i}.blocks.{j}.attn_mask')
        if i < 3:  # PatchMerging at the end of stages 0..2
            keys += [f'layers.{i}.downsample.{k}' for k in MERGING]
    return keys + ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']


def timm_keys(depths):
    """timm >= 0.9 (swin_{tiny,base}_patch4_window7_224.ms_in1k /
    .ms_in22k_ft_in1k): PatchMerging opens stages 1..3, ClassifierHead."""
    keys = ['patch_embed.proj.weight', 'patch_embed.proj.bias',
            'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        if i > 0:
            keys += [f'layers.{i}.downsample.{k}' for k in MERGING]
        for j in range(depth):
            keys += [f'layers.{i}.blocks.{j}.{k}' for k in TIMM_BLOCK]
    return keys + ['norm.weight', 'norm.bias', 'head.fc.weight',
                   'head.fc.bias']


def mmpretrain_keys(depths):
    """An MMPretrain ImageClassifier (swin-tiny_16xb64_in1k /
    swin-base_16xb64_in1k): SwinTransformer backbone, out_indices=(3, ),
    LinearClsHead."""
    keys = ['backbone.patch_embed.projection.weight',
            'backbone.patch_embed.projection.bias',
            'backbone.patch_embed.norm.weight',
            'backbone.patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        for j in range(depth):
            keys += [f'backbone.stages.{i}.blocks.{j}.{k}'
                     for k in MMPRETRAIN_BLOCK]
        if i < 3:
            keys += [f'backbone.stages.{i}.downsample.{k}' for k in MERGING]
    return keys + ['backbone.norm3.weight', 'backbone.norm3.bias',
                   'head.fc.weight', 'head.fc.bias']


KEYS = {'official': official_keys, 'timm': timm_keys,
        'mmpretrain': mmpretrain_keys}

# A few keys of the real checkpoints, literally, and their MMAction2 names.
RENAMED = {
    'official': {
        'patch_embed.proj.weight': 'patch_embed.proj.weight',
        'layers.0.blocks.0.attn.relative_position_bias_table':
        'layers.0.blocks.0.attn.relative_position_bias_table',
        'layers.0.downsample.reduction.weight':
        'layers.0.downsample.reduction.weight',
        'layers.3.blocks.1.mlp.fc2.bias': 'layers.3.blocks.1.mlp.fc2.bias',
        'norm.weight': 'norm.weight',
    },
    'timm': {
        'patch_embed.proj.weight': 'patch_embed.proj.weight',
        'layers.0.blocks.0.attn.relative_position_bias_table':
        'layers.0.blocks.0.attn.relative_position_bias_table',
        'layers.1.downsample.reduction.weight':
        'layers.0.downsample.reduction.weight',
        'layers.3.downsample.norm.bias': 'layers.2.downsample.norm.bias',
        'layers.2.blocks.5.attn.qkv.weight':
        'layers.2.blocks.5.attn.qkv.weight',
        'norm.weight': 'norm.weight',
    },
    'mmpretrain': {
        'backbone.patch_embed.projection.weight': 'patch_embed.proj.weight',
        'backbone.patch_embed.norm.bias': 'patch_embed.norm.bias',
        'backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table':
        'layers.0.blocks.0.attn.relative_position_bias_table',
        'backbone.stages.2.blocks.5.attn.w_msa.qkv.weight':
        'layers.2.blocks.5.attn.qkv.weight',
        'backbone.stages.1.blocks.1.ffn.layers.0.0.weight':
        'layers.1.blocks.1.mlp.fc1.weight',
        'backbone.stages.3.blocks.0.ffn.layers.1.bias':
        'layers.3.blocks.0.mlp.fc2.bias',
        'backbone.norm3.weight': 'norm3.weight',
    },
}


@functools.lru_cache()
def mmaction_2d_keys(depths):
    """The names MMAction2's SwinTransformer3D gives the tensors a 2D
    checkpoint carries (its own module, not the conversion: the names depend
    on the depths only, so narrow stages keep it quick)."""
    net = SwinTransformer3D(
        dict(embed_dims=8, depths=list(depths), num_heads=[1] * 4),
        pretrained2d=False, drop_path_rate=0.)
    return frozenset(k for k in net.state_dict()
                     if not k.endswith('relative_position_index'))


@pytest.mark.parametrize('arch', ['tiny', 'base'])
@pytest.mark.parametrize('key_format', ['official', 'timm', 'mmpretrain'])
def test_real_key_names(key_format, arch):
    keys = KEYS[key_format](DEPTHS[arch])
    for key in RENAMED[key_format]:
        assert key in keys  # (the tables above are consistent)
    # distinct values, so that a tensor can be followed to its new name
    state = {k: torch.full((4, ), float(i)) for i, k in enumerate(keys)}
    assert detect_format(state, 'swin.pth') == key_format
    converted = convert_swin2d(state, key_format)

    for old, new in RENAMED[key_format].items():
        assert torch.equal(converted[new], state[old]), (old, new)
    # every tensor of the MMAction2 network, nothing else: heads, masks and
    # position indices dropped; the final norm `norm` (norm3 in MMPretrain)
    expected = mmaction_2d_keys(DEPTHS[arch])
    if key_format != 'mmpretrain':
        expected = expected - {'norm3.weight', 'norm3.bias'} | {
            'norm.weight', 'norm.bias'}
    assert set(converted) == expected
    assert len(converted) == {'tiny': 4 + 13 * 12 + 9 + 2,
                              'base': 4 + 13 * 24 + 9 + 2}[arch]


def test_patch_merging_orders_by_hand():
    """One 2 x 2 neighbourhood of C = 2 channels, (row, col): channels
    (0, 0): 1, 2   (0, 1): 3, 4
    (1, 0): 5, 6   (1, 1): 7, 8
    The official / MMAction2 merging concatenates x[0::2, 0::2],
    x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]; timm >= 0.9 reshapes to
    the same order; MMPretrain (MMCV, nn.Unfold) orders (channel, row,
    col)."""
    x = torch.tensor([[[1., 2.], [3., 4.]], [[5., 6.], [7., 8.]]])[None]
    concat = [1., 2., 5., 6., 3., 4., 7., 8.]
    unfold = [1., 3., 5., 7., 2., 4., 6., 8.]

    # official: torch.cat([x0, x1, x2, x3], -1)
    official = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2],
                          x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    assert official.flatten().tolist() == concat
    # timm >= 0.9: x.reshape(B, H // 2, 2, W // 2, 2, C)
    #               .permute(0, 1, 3, 4, 2, 5).flatten(3)
    timm = x.reshape(1, 1, 2, 1, 2, 2).permute(0, 1, 3, 4, 2, 5).flatten(3)
    assert timm.flatten().tolist() == concat
    # MMAction2's and MMCV's modules, seen at the input of their norm
    seen = []
    mmaction = PatchMerging(2)
    mmaction.norm.register_forward_hook(
        lambda mod, args, out: seen.append(args[0].flatten().tolist()))
    mmaction(x[:, None])  # (B, T, H, W, C)
    mmcv = MMCVPatchMerging(2, 4)
    mmcv.norm.register_forward_hook(
        lambda mod, args, out: seen.append(args[0].flatten().tolist()))
    mmcv(x.reshape(1, 4, 2), (2, 2))  # (B, H * W, C)
    assert seen == [concat, unfold]

    # A weight over the 4C Unfold-ordered channels, in concat order:
    # position u of the Unfold order holds channel c, row r, col k with
    # u = 4c + 2r + k; the concat order puts it at (r + 2k) * C + c.
    # u: 0 1 2 3 4 5 6 7 -> 0 4 2 6 1 5 3 7 (an involution here).
    assert unfold_to_concat_order(torch.arange(8.)).tolist() == [
        0., 4., 2., 6., 1., 5., 3., 7.]
    # ... for each row of a reduction weight alike
    weight = torch.tensor([[0., 1., 2., 3., 4., 5., 6., 7.],
                           [10., 11., 12., 13., 14., 15., 16., 17.]])
    assert unfold_to_concat_order(weight).tolist() == [
        [0., 4., 2., 6., 1., 5., 3., 7.],
        [10., 14., 12., 16., 11., 15., 13., 17.]]
    # and it acts on the concat features as the original on the Unfold ones:
    # 0*1 + 1*3 + 2*5 + 3*7 + 4*2 + 5*4 + 6*6 + 7*8 = 154
    assert torch.arange(8.) @ torch.tensor(unfold) == 154
    assert unfold_to_concat_order(torch.arange(8.)) @ torch.tensor(
        concat) == 154


def test_mmcv_patch_merging_weights_act_the_same_after_conversion():
    """MMPretrain's PatchMerging (MMCV's module) with random weights, saved
    under its MMPretrain name, converted and loaded into MMAction2's: the
    same output on the same tokens."""
    torch.manual_seed(0)
    c = 4
    mmcv = MMCVPatchMerging(c, 2 * c).double()
    with torch.no_grad():
        mmcv.norm.weight.uniform_(0.5, 1.5)
        mmcv.norm.bias.normal_()
    state = {f'backbone.stages.0.downsample.{k}': v
             for k, v in mmcv.state_dict().items()}
    converted = convert_swin2d(state, 'mmpretrain')
    assert set(converted) == {'layers.0.downsample.norm.weight',
                              'layers.0.downsample.norm.bias',
                              'layers.0.downsample.reduction.weight'}
    mmaction = PatchMerging(c).double()
    mmaction.load_state_dict({k[len('layers.0.downsample.'):]: v
                              for k, v in converted.items()})
    x = torch.randn(2, 6, 4, c, dtype=torch.float64)  # (B, H, W, C)
    expected, size = mmcv(x.reshape(2, 24, c), (6, 4))
    assert size == (3, 2)
    got = mmaction(x[:, None])[:, 0]  # (B, H/2, W/2, 2C)
    torch.testing.assert_close(got.reshape(2, 6, 2 * c), expected,
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# A pretrained path that cannot be read.
# --------------------------------------------------------------------------


def small_swin_dtf(pretrained):
    return SwinDTF(dict(embed_dims=32, depths=[2, 2, 2, 2],
                        num_heads=[1, 2, 4, 8]), clip_len=8,
                   dtf_cfg=dict(group_factor=8), pretrained=pretrained)


def assert_names_path_and_key(message, path):
    assert repr(str(path)) in message
    assert 'model.backbone.pretrained' in message
    assert '2D Swin Transformer ImageNet checkpoint' in message
    assert 'official, timm or MMPretrain format' in message


def test_missing_pretrained_path(tmp_path):
    path = tmp_path / 'swin_tiny_patch4_window7_224.pth'
    with pytest.raises(FileNotFoundError) as info:
        load_swin2d_checkpoint(str(path))
    assert str(info.value).startswith(
        f"model.backbone.pretrained='{path}': no such file. Expected a 2D")
    assert_names_path_and_key(str(info.value), path)
    # and so from the backbone
    with pytest.raises(FileNotFoundError) as info:
        small_swin_dtf(str(path)).init_weights()
    assert_names_path_and_key(str(info.value), path)


def test_pretrained_file_that_is_no_checkpoint(tmp_path):
    path = tmp_path / 'swin.pth'
    path.write_text('not a checkpoint\n')
    with pytest.raises(ValueError) as info:
        load_swin2d_checkpoint(str(path))
    assert 'cannot be loaded as a PyTorch checkpoint' in str(info.value)
    assert_names_path_and_key(str(info.value), path)

    torch.save(torch.zeros(3), path)  # a checkpoint, but no state dict
    with pytest.raises(ValueError) as info:
        load_swin2d_checkpoint(str(path))
    assert 'holds a Tensor, not a state dict' in str(info.value)
    assert_names_path_and_key(str(info.value), path)
