"""SwinDTF: DTF placement, shapes, padding, ImageNet inflation from 2D Swin
checkpoints in the official, timm and MMPretrain key formats (made here
from a 2D reference: round trips; the real libraries' key names and merging
order are pinned in tests/models/weights/test_swin2d.py), clip-length
errors, gradient checkpointing."""
import re

import pytest
import torch
from mmaction.models.backbones.swin import PatchMerging, SwinTransformer3D
from mmaction.registry import MODELS
from torch import nn

from mmdtf.models import DTFBlock, SwinDTF
from mmdtf.models.backbones import swin_dtf

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

# A small Swin (fast on CPU) with the real structure: 4 stages, windows of 7.
ARCH = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
DTF_CFG = dict(group_factor=8)


def small_swin_dtf(**kwargs):
    cfg = dict(arch=ARCH, clip_len=8, temporal_stride=4, img_size=224,
               dtf_cfg=DTF_CFG, drop_path_rate=0.)
    cfg.update(kwargs)
    return SwinDTF(**cfg)


def dtf_blocks(model):
    return [m for m in model.modules() if isinstance(m, DTFBlock)]


def randomize_dtf(model, seed=0):
    """Non-zero gamma / beta: every DTF block acts."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for dtf in dtf_blocks(model):
            dtf.gamma.copy_(torch.randn(dtf.gamma.shape, generator=gen))
            dtf.beta.copy_(0.1 * torch.randn(dtf.beta.shape, generator=gen))


# --------------------------------------------------------------------------
# A 2D Swin reference and its weights in the three checkpoint key formats.
# --------------------------------------------------------------------------


def swin2d_reference(arch=ARCH, seed=0):
    """MMAction2's SwinTransformer3D with (1, 4, 4) patches and (1, 7, 7)
    windows is a 2D Swin applied to every frame. Random weights with
    non-trivial norms, biases and position tables, so each tensor matters."""
    torch.manual_seed(seed)
    net = SwinTransformer3D(arch, pretrained2d=False, patch_size=(1, 4, 4),
                            window_size=(1, 7, 7), drop_path_rate=0.)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.endswith('weight') and param.dim() == 1:  # LayerNorm
                param.uniform_(0.5, 1.5)
            elif name.endswith('bias') or name.endswith('bias_table'):
                param.normal_(0, 0.3)
    net.eval()  # (its train() returns None)
    return net


def official_state_dict(net):
    """The reference's weights as microsoft/Swin-Transformer saves them."""
    state = {}
    for key, value in net.state_dict().items():
        value = value.clone()
        if key == 'patch_embed.proj.weight':
            value = value.squeeze(2)  # (C, 3, 1, 4, 4) -> (C, 3, 4, 4)
        key = re.sub(r'^norm3\.', 'norm.', key)
        state[key] = value
    # what a real checkpoint carries besides: a head and the shift masks
    state['head.weight'] = torch.randn(1000, state['norm.weight'].numel())
    state['head.bias'] = torch.zeros(1000)
    state['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)
    return state


def timm_state_dict(official):
    """timm >= 0.9: each patch merging opens the next stage; `head.fc`."""
    state = {}
    for key, value in official.items():
        if 'attn_mask' in key:
            continue  # timm does not persist it
        key = re.sub(r'^layers\.(\d+)\.downsample\.',
                     lambda m: f'layers.{int(m.group(1)) + 1}.downsample.',
                     key)
        state[key.replace('head.', 'head.fc.')] = value
    return state


def unfold_permutation(channels):
    """Index list p with ``unfold_feature = concat_feature[p]``.

    ``nn.Unfold(2, stride=2)`` puts input channel ``c`` at kernel offset
    ``(i, j)`` at position ``c * 4 + i * 2 + j``; the official merging
    concatenates ``x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2],
    x[1::2, 1::2]``, so the same value sits at ``(i + 2 * j) * C + c``.
    """
    perm = [0] * (4 * channels)
    for c in range(channels):
        for i in range(2):
            for j in range(2):
                perm[c * 4 + i * 2 + j] = (i + 2 * j) * channels + c
    return torch.tensor(perm)


def mmpretrain_state_dict(official):
    """MMPretrain's ImageClassifier around its SwinTransformer backbone."""
    state = {}
    for key, value in official.items():
        if key.startswith('head.') or 'attn_mask' in key:
            continue
        key = key.replace('patch_embed.proj.', 'patch_embed.projection.')
        key = re.sub(r'^layers\.', 'stages.', key)
        key = key.replace('.attn.', '.attn.w_msa.')
        key = key.replace('.mlp.fc1.', '.ffn.layers.0.0.')
        key = key.replace('.mlp.fc2.', '.ffn.layers.1.')
        key = re.sub(r'^norm\.', 'norm3.', key)
        if re.match(r'stages\.\d+\.downsample\.', key):
            value = value[..., unfold_permutation(value.shape[-1] // 4)]
        state[f'backbone.{key}'] = value
    state['head.fc.weight'] = official['head.weight']
    state['head.fc.bias'] = official['head.bias']
    return state


def save_checkpoint(tmp_path, key_format, net):
    official = official_state_dict(net)
    if key_format == 'official':
        checkpoint = dict(model=official)
    elif key_format == 'timm':
        checkpoint = timm_state_dict(official)
    else:
        checkpoint = dict(meta=dict(), state_dict=mmpretrain_state_dict(
            official))
    path = tmp_path / f'swin2d_{key_format}.pth'
    torch.save(checkpoint, path)
    return path


def test_mmpretrain_merging_order_is_unfold_order():
    """The test's MMPretrain conversion is right: patch merging done the
    MMPretrain way (nn.Unfold) with the permuted weights equals MMAction2's
    (the official order) with the original ones."""
    torch.manual_seed(0)
    c = 8
    merge = PatchMerging(c).double()
    with torch.no_grad():
        merge.norm.weight.uniform_(0.5, 1.5)
        merge.norm.bias.normal_()
    perm = unfold_permutation(c)
    x = torch.randn(2, 1, 6, 10, c, dtype=torch.float64)  # (B, T, H, W, C)

    cols = nn.Unfold(2, stride=2)(x[:, 0].permute(0, 3, 1, 2))
    cols = cols.transpose(1, 2)  # (B, H/2 * W/2, 4C) in unfold order
    unfold_out = nn.functional.linear(
        nn.functional.layer_norm(cols, (4 * c,), merge.norm.weight[perm],
                                 merge.norm.bias[perm]),
        merge.reduction.weight[:, perm])
    expected = merge(x)[:, 0].reshape(2, -1, 2 * c)
    torch.testing.assert_close(unfold_out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('key_format', ['official', 'timm', 'mmpretrain'])
def test_imagenet_init_matches_2d_swin(tmp_path, key_format):
    reference = swin2d_reference()
    ckpt = save_checkpoint(tmp_path, key_format, reference)
    # 56 px: 14 x 14 tokens (two shifted windows), then 7, 4, 2
    model = MODELS.build(dict(type='SwinDTF', arch=ARCH, clip_len=8,
                              temporal_stride=4, img_size=56,
                              dtf_cfg=DTF_CFG, pretrained=str(ckpt)))
    model.init_weights()
    assert all((m.gamma == 0).all() for m in dtf_blocks(model))
    # float64: equal up to rounding, not up to float32 noise of 8 blocks
    model.double().eval()
    reference.double()

    torch.manual_seed(1)
    frame = torch.randn(2, 3, 56, 56, dtype=torch.float64)
    clip = frame[:, :, None].expand(-1, -1, 8, -1, -1).contiguous()
    with torch.no_grad():
        feats = model(clip)
        expected = reference(frame[:, :, None])[:, :, 0]  # one-frame clip
    assert feats.shape == (2, 256, 2, 2, 2)
    assert expected.shape == (2, 256, 2, 2)
    for t in range(2):
        torch.testing.assert_close(feats[:, :, t], expected, rtol=1e-10,
                                   atol=1e-10)
    # the tubelet kernel is the 2D kernel spread over its 4 frames
    torch.testing.assert_close(
        model.patch_embed.proj.weight.sum(2),
        reference.patch_embed.proj.weight[:, :, 0])


def test_key_formats_are_detected(tmp_path):
    from mmdtf.models.weights.swin2d import load_swin2d_checkpoint
    reference = swin2d_reference()
    for key_format in ('official', 'timm', 'mmpretrain'):
        state, found = load_swin2d_checkpoint(
            str(save_checkpoint(tmp_path, key_format, reference)))
        assert found == key_format
        # the same tensors under the same names, whatever the key format
        assert 'layers.0.downsample.reduction.weight' in state
        assert 'layers.3.downsample.reduction.weight' not in state
        assert not any(k.startswith('head') or 'attn_mask' in k
                       or 'relative_position_index' in k for k in state)


def test_identical_frames_within_tubelets_follow_each_frame(tmp_path):
    """Per tubelet: clip = 4 x frame a, then 4 x frame b gives the 2D
    features of a at T = 0 and of b at T = 1 (frames stay independent until
    DTF acts, and it starts as the identity)."""
    reference = swin2d_reference()
    reference.double()
    model = small_swin_dtf(
        img_size=56,
        pretrained=str(save_checkpoint(tmp_path, 'official', reference)))
    model.init_weights()
    model.double().eval()
    torch.manual_seed(2)
    frames = torch.randn(1, 3, 2, 56, 56, dtype=torch.float64)
    clip = frames.repeat_interleave(4, dim=2)
    with torch.no_grad():
        feats = model(clip)
        expected = reference(frames)  # the 2D Swin on each frame
    torch.testing.assert_close(feats, expected, rtol=1e-10, atol=1e-10)

    randomize_dtf(model)  # once DTF acts, frames mix
    with torch.no_grad():
        mixed = model(clip)
    assert (mixed - expected).abs().max() > 1e-3


# --------------------------------------------------------------------------
# Structure: where DTF sits.
# --------------------------------------------------------------------------


@pytest.mark.parametrize('arch,embed,depths,heads', [
    ('tiny', 96, (2, 2, 6, 2), (3, 6, 12, 24)),
    ('base', 128, (2, 2, 18, 2), (4, 8, 16, 32)),
])
def test_dtf_in_every_unshifted_block_at_224(arch, embed, depths, heads):
    model = SwinDTF(arch, clip_len=64)
    assert model.patch_embed.proj.kernel_size == (4, 4, 4)
    assert model.patch_embed.proj.stride == (4, 4, 4)
    assert model.patch_embed.norm is not None  # patch norm kept
    for i, layer in enumerate(model.layers):
        assert len(layer.blocks) == depths[i]
        assert layer.embed_dims == embed * 2**i
        for j, block in enumerate(layer.blocks):
            assert block.num_heads == heads[i]
            assert block.window_size == (1, 7, 7)
            # at 224 the last stage is 7 x 7 tokens: no shift, DTF in both
            with_dtf = j % 2 == 0 or i == 3
            assert (block.dtf is not None) == with_dtf, (i, j)
            if with_dtf:
                assert block.dtf.num_frames == 16
                assert block.dtf.in_channels == embed * 2**i
                assert block.dtf.frames_key == 'model.backbone.clip_len'
    assert len(dtf_blocks(model)) == sum(d // 2 for d in depths) + 1


def test_drop_path_is_linear_over_blocks():
    model = small_swin_dtf(drop_path_rate=0.5)
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for layer in model.layers
             for b in layer.blocks]
    torch.testing.assert_close(torch.tensor(rates),
                               torch.linspace(0, 0.5, 8))


def test_frozen_stages_stay_frozen():
    model = small_swin_dtf(frozen_stages=1)
    frozen = [p.requires_grad for p in model.patch_embed.parameters()] + \
        [p.requires_grad for p in model.layers[0].parameters()]
    assert frozen and not any(frozen)
    assert all(p.requires_grad for p in model.layers[1].parameters())
    assert model.train() is model  # (MMAction2's train() returns None)
    assert not model.layers[0].training and model.layers[1].training


def test_placement_follows_img_size():
    # 160 px: 40, 20, 10, 5 tokens; only the 5 x 5 stage is unshifted
    # 64 px: 16, 8, 4, 2 tokens; stages 2 and 3 fit one window
    assert small_swin_dtf(img_size=160).dtf_placement == (
        (True, False), (True, False), (True, False), (True, True))
    assert small_swin_dtf(img_size=64).dtf_placement == (
        (True, False), (True, False), (True, True), (True, True))
    # a non-square size keeps the shift along the long side
    wide = small_swin_dtf(img_size=(64, 256))
    assert wide.dtf_placement[2] == (True, False)


def test_dtf_sits_after_the_attention_residual():
    """block(x) == z + MLP(z) with z = DTF(x + W-MSA(x)), on tokens seen as
    (N, C, T, H, W)."""
    torch.manual_seed(0)
    model = small_swin_dtf(img_size=64)
    randomize_dtf(model)
    model.double().eval()
    block = model.layers[0].blocks[0]
    seen = []
    block.dtf.register_forward_hook(
        lambda mod, args, out: seen.append(args[0].shape))
    x = torch.randn(2, 2, 14, 14, 32, dtype=torch.float64)  # (B, T, H, W, C)
    with torch.no_grad():
        out = block(x, None)
        y = x + block.forward_part1(x, None)
        z = block.dtf(y.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        expected = z + block.forward_part2(z)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert seen[0] == (2, 32, 2, 14, 14)
    assert (z - y).abs().max() > 1e-3  # and DTF did something


# --------------------------------------------------------------------------
# Shapes, sizes and errors.
# --------------------------------------------------------------------------


def test_tiny_at_init_is_mmaction2_swin():
    """Swin-T with DTF at its initial identity: MMAction2's
    SwinTransformer3D Swin-T with (4, 4, 4) tubelets and (1, 7, 7)
    windows, loaded with the same weights (every key but DTF's)."""
    torch.manual_seed(0)
    model = SwinDTF('tiny', clip_len=8, img_size=64)
    model.init_weights()
    reference = SwinTransformer3D('tiny', pretrained2d=False,
                                  patch_size=(4, 4, 4), window_size=(1, 7, 7))
    state = {k: v for k, v in model.state_dict().items() if '.dtf.' not in k}
    reference.load_state_dict(state, strict=True)
    model.double().eval()
    reference.double().eval()
    x = torch.randn(1, 3, 8, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        expected = reference(x)
    assert out.shape == (1, 768, 2, 2, 2)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


# 60 px: 15, 8, 4, 2 tokens (padded windows, odd map merged);
# 90 px: the patch embedding pads to 92, then 23, 12, 6, 3 tokens.
@pytest.mark.parametrize('size,tokens', [(60, 2), (90, 3)])
def test_sizes_that_need_padding(tmp_path, size, tokens):
    """Sizes that are not multiples of 4 x 7 or of 32: MMAction2 pads the
    patch embedding, the windows and odd maps before patch merging. Each
    frame still gets exactly the 2D Swin's features at that size."""
    reference = swin2d_reference().double()
    model = small_swin_dtf(
        img_size=size,
        pretrained=str(save_checkpoint(tmp_path, 'official', reference)))
    model.init_weights()
    model.double().eval()
    torch.manual_seed(3)
    frames = torch.randn(1, 3, 2, size, size, dtype=torch.float64)
    with torch.no_grad():
        feats = model(frames.repeat_interleave(4, dim=2))
        expected = reference(frames)
    assert feats.shape == (1, 256, 2, tokens, tokens)
    torch.testing.assert_close(feats, expected, rtol=1e-10, atol=1e-10)


def test_other_input_size_warns_once(monkeypatch):
    messages = []
    monkeypatch.setattr(swin_dtf, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    model = small_swin_dtf(img_size=64)  # 16, 8, 4, 2 tokens
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 60, 60))  # 15, 8, 4, 2: the same blocks
        assert messages == []
        model(torch.randn(1, 3, 8, 48, 48))  # 12, 6, ...: stage 1 unshifted
        model(torch.randn(1, 3, 8, 48, 48))
    assert len(messages) == 1
    assert '64x64' in messages[0] and '48x48' in messages[0]
    assert 'model.backbone.img_size' in messages[0]


def test_wrong_clip_length_names_both_and_key():
    model = small_swin_dtf(clip_len=16)
    with pytest.raises(ValueError) as info:
        model(torch.randn(1, 3, 8, 32, 32))
    msg = str(info.value)
    assert 'T=16' in msg and '(1, 3, 8, 32, 32)' in msg
    assert 'model.backbone.clip_len' in msg


def test_clip_len_not_multiple_of_stride():
    with pytest.raises(ValueError, match='clip_len=10 must be a positive '
                       'multiple of temporal_stride=4.*model.backbone'
                       '.clip_len'):
        small_swin_dtf(clip_len=10)


def test_bad_arch_and_sizes():
    with pytest.raises(ValueError, match="unknown arch 'huge'.*model.backbone"
                       '.arch'):
        SwinDTF('huge')
    with pytest.raises(TypeError, match=r'window_size is the spatial size.*'
                       r'\(8, 7, 7\)'):
        small_swin_dtf(window_size=(8, 7, 7))


# --------------------------------------------------------------------------
# Initialisation and checkpoints.
# --------------------------------------------------------------------------


@pytest.mark.parametrize('pretrained', [False, True])
def test_identity_at_init(tmp_path, pretrained):
    ckpt = None
    if pretrained:
        ckpt = str(save_checkpoint(tmp_path, 'timm', swin2d_reference()))
    model = small_swin_dtf(pretrained=ckpt)
    randomize_dtf(model)  # as if trained: init_weights must undo it
    model.init_weights()
    blocks = dtf_blocks(model)
    assert len(blocks) == 5
    assert all((m.gamma == 0).all() and (m.beta == 0).all() for m in blocks)

    model.eval()
    clip = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        out = model(clip)
        for block in (b for layer in model.layers for b in layer.blocks):
            block.dtf = None  # the plain per-frame Swin
        assert torch.equal(model(clip), out)


def test_swin_dtf_checkpoint_keeps_dtf_weights(tmp_path):
    """pretrained2d=False: a trained SwinDTF (here inside a recognizer's
    `backbone.`) is loaded as it is; DTF is not reset."""
    trained = small_swin_dtf()
    randomize_dtf(trained, seed=5)
    ckpt = tmp_path / 'recognizer.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in trained.state_dict().items()}},
               ckpt)
    model = small_swin_dtf(pretrained=str(ckpt), pretrained2d=False)
    model.init_weights()
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert any((m.gamma != 0).any() for m in dtf_blocks(model))


def test_not_a_swin_checkpoint(tmp_path):
    ckpt = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, ckpt)
    model = small_swin_dtf(pretrained=str(ckpt))
    with pytest.raises(ValueError) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'resnet.pth' in msg and '`conv1.weight`' in msg
    assert 'layers.0.blocks.0.attn.qkv.weight' in msg
    assert 'attn.w_msa.qkv.weight' in msg
    assert 'model.backbone.pretrained' in msg


def test_checkpoint_of_another_arch(tmp_path):
    wide = dict(ARCH, embed_dims=64)
    ckpt = save_checkpoint(tmp_path, 'official', swin2d_reference(wide))
    with pytest.raises(ValueError, match=r'swin2d_official.pth: `.*` has '
                       r'shape .*expects .*model.backbone.arch'):
        small_swin_dtf(pretrained=str(ckpt)).init_weights()

    deep = dict(ARCH, depths=[2, 2, 4, 2])
    ckpt = save_checkpoint(tmp_path, 'mmpretrain', swin2d_reference(deep))
    with pytest.raises(ValueError, match=r'mmpretrain format\) does not match'
                       r'.*unexpected `layers\.2\.blocks\.2\.'):
        small_swin_dtf(pretrained=str(ckpt)).init_weights()


def test_3d_checkpoint_as_2d(tmp_path):
    ckpt = tmp_path / 'swin_dtf.pth'
    torch.save(small_swin_dtf().state_dict(), ckpt)
    with pytest.raises(ValueError, match='not a 2D Swin checkpoint.*'
                       'pretrained2d=False'):
        small_swin_dtf(pretrained=str(ckpt)).init_weights()


def test_position_tables_of_another_window_are_resized(tmp_path):
    """A window-12 checkpoint (23 x 23 tables) into window 7 (13 x 13): the
    tables are resized bicubically; a constant table stays constant."""
    official = official_state_dict(swin2d_reference())
    for key in [k for k in official if k.endswith('bias_table')]:
        heads = official[key].shape[1]
        official[key] = torch.arange(heads).float().repeat(23 * 23, 1)
    ckpt = tmp_path / 'window12.pth'
    torch.save(dict(model=official), ckpt)
    model = small_swin_dtf(pretrained=str(ckpt))
    model.init_weights()
    table = model.layers[3].blocks[1].attn.relative_position_bias_table
    assert table.shape == (13 * 13, 8)
    torch.testing.assert_close(table, torch.arange(8.).repeat(169, 1))


# --------------------------------------------------------------------------
# Gradient checkpointing.
# --------------------------------------------------------------------------


def test_with_cp_gives_the_same_gradients_and_statistics():
    def step(with_cp):
        torch.manual_seed(0)
        # 32 px: 8 x 8 tokens at stage 0 (shifted, padded windows)
        # the mixing's batch norm (an option): running statistics that
        # must be counted once
        model = small_swin_dtf(
            img_size=32, drop_path_rate=0.3, with_cp=with_cp,
            dtf_cfg=dict(DTF_CFG, channel_mixing=dict(norm='batch')))
        randomize_dtf(model)
        model.double().train()
        calls = []
        model.layers[2].blocks[1].dtf.register_forward_pre_hook(
            lambda *args: calls.append(1))
        torch.manual_seed(1)  # the same drop-path draws in both runs
        clip = torch.randn(1, 3, 8, 32, 32, dtype=torch.float64)
        (model(clip) ** 2).mean().backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        buffers = {n: b.clone() for n, b in model.named_buffers()
                   if 'running' in n}
        return grads, buffers, len(calls)

    helpers.assert_checkpointing_changes_nothing(step)
