"""The backbones' wiring of their DTF blocks against the naive reference:
a ResNetDTF / SwinDTF whose every DTF step is redone by hand (frames or
tokens regrouped into clips by explicit indexing, the block by
tests/naive_dtf_block.py) must give the backbone's output and input
gradient, in float64 and, for ResNetDTF, bfloat16 against float64.

All DTF parameters and running statistics are random (a fresh block is the
identity and would hide any wiring)."""
import copy
import types

import pytest
import torch
from mmaction.registry import MODELS

from mmdtf.models import DTFBlock
from naive_dtf_block import naive_dtf_block  # tests/ is on sys.path

# dynamic, with the channel mixing and its batch norm (running statistics)
DTF_CFG = dict(group_factor=8, channel_mixing=dict(norm='batch'))


def randomise_dtf(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.modules():
            if not isinstance(block, DTFBlock):
                continue
            for name, param in block.named_parameters():
                fan_in = param[0].numel() if param.dim() > 1 else 1
                param.copy_(torch.randn(param.shape, generator=gen,
                                        dtype=torch.float64)
                            / fan_in**0.5)
            norm = block.filter.mixing.norm
            norm.running_mean.copy_(0.5 * torch.randn(
                norm.running_mean.shape, generator=gen, dtype=torch.float64))
            norm.running_var.copy_(0.5 + 1.5 * torch.rand(
                norm.running_var.shape, generator=gen, dtype=torch.float64))


def naive_block_call(block, clip):
    """The DTF block on a (N, C, T, H, W) clip, by the reference."""
    params = {name: value.detach().double()
              for name, value in block.state_dict().items()}
    out, _ = naive_dtf_block(clip.double(), params, filter_type='dynamic',
                             training=block.training, **DTF_CFG)
    return out


def resnet_with_naive_dtf(model):
    """Each ``ConvWithDTF``: the conv, then its (N*T, C, H, W) frames
    regrouped clip by clip, frame by frame, the naive block, and back."""
    oracle = copy.deepcopy(model)

    def forward(self, x):
        frames = self.conv(x)
        t = self.dtf.num_frames
        n = frames.shape[0] // t
        clip = torch.stack([torch.stack([frames[i * t + j] for j in range(t)],
                                        dim=1) for i in range(n)])
        out = naive_block_call(self.dtf, clip)  # (N, C, T, H, W)
        return torch.stack([out[i, :, j] for i in range(n)
                            for j in range(t)]).to(frames.dtype)

    for module in oracle.modules():
        if type(module).__name__ == 'ConvWithDTF':
            module.forward = types.MethodType(forward, module)
    return oracle


def swin_with_naive_dtf(model):
    """Each DTF step of a Swin block: the (B, T, H, W, C) tokens as a clip
    by einsum, the naive block, and back."""
    oracle = copy.deepcopy(model)

    def forward_dtf(self, tokens):
        clip = torch.einsum('bthwc->bcthw', tokens)
        return torch.einsum('bcthw->bthwc', naive_block_call(self.dtf, clip))

    for module in oracle.modules():
        if getattr(module, 'dtf', None) is not None and hasattr(
                module, 'forward_dtf'):
            module.forward_dtf = types.MethodType(forward_dtf, module)
    return oracle


def compare(model, oracle, clip, rtol, atol):
    """Output and input gradient of ``model`` against ``oracle`` (float64)."""
    x = clip.detach().requires_grad_()
    out = model(x)
    x64 = clip.detach().double().requires_grad_()
    ref = oracle(x64)
    grad = torch.randn(ref.shape, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    out.backward(grad.to(out.dtype))
    ref.backward(grad)
    torch.testing.assert_close(out.double(), ref, rtol=rtol, atol=atol,
                               msg='backbone output')
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=rtol,
                               atol=atol * x64.grad.abs().max().item(),
                               msg='input gradient')


def small_resnet():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ResNetDTF', depth=18, clip_len=16,
                              pretrained=None,
                              dtf_stages=(False, False, True, True),
                              dtf_cfg=DTF_CFG))
    model.init_weights()
    return model


def test_resnet_dtf_wiring_equals_reference():
    """In training mode (batch statistics: every clip of the batch meets in
    the mixing's norm); the eval path is checked block by block."""
    model = small_resnet().double()
    model.train()  # (MMAction2's ResNet.train returns None)
    randomise_dtf(model)
    oracle = resnet_with_naive_dtf(model)
    clip = torch.randn(2, 3, 16, 32, 32, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(2))
    compare(model, oracle, clip, rtol=1e-9, atol=1e-9)


def test_resnet_dtf_bfloat16_against_float64():
    """The whole bfloat16 backbone against the float64 one (weights and
    input rounded to bfloat16 first): within a few percent of the output's
    scale, as 17 bfloat16 layers allow; a wrong wiring is off by O(1)."""
    model = small_resnet().double()
    model.eval()
    randomise_dtf(model)
    model = model.to(torch.bfloat16)
    oracle = resnet_with_naive_dtf(copy.deepcopy(model).double())
    clip = torch.randn(2, 3, 16, 32, 32,
                       generator=torch.Generator().manual_seed(2)).to(
                           torch.bfloat16)
    with torch.no_grad():
        out, ref = model(clip), oracle(clip.double())
    err = (out.double() - ref).abs().max() / ref.abs().max()
    assert err < 0.05, f'bfloat16 backbone off by {err:.3f} of its scale'


def test_swin_dtf_wiring_equals_reference():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='SwinDTF', arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                                  num_heads=[1, 2, 2, 4]),
        clip_len=8, temporal_stride=4, img_size=56, dtf_cfg=DTF_CFG,
        drop_path_rate=0., pretrained=None)).double()
    model.eval()
    randomise_dtf(model)
    oracle = swin_with_naive_dtf(model)
    clip = torch.randn(2, 3, 8, 56, 56, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(2))
    compare(model, oracle, clip, rtol=1e-9, atol=1e-9)
