"""ResNetTINShift: MMAction2's ResNetTIN on mmdtf's tin_shift. Its
state_dict and initialisation are MMAction2's, its output equals MMAction2's
forward (run here with a loop tin_shift standing in for mmcv.ops), it reduces
to ResNetTSM with integer offsets and unit weights, and MMAction2's own TIN
configs train and test on it with only the backbone type changed."""
import math
import re
import types

import pytest
import torch
import torch.nn.functional as F
from mmaction.models.backbones import ResNetTIN, ResNetTSM
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmdtf.models import ResNetTINShift
from mmdtf.models.backbones.resnet_tin import TemporalInterlaceShift

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

TIN_CONFIGS = [
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv1-rgb.py',
    'tin_imagenet-pretrained-r50_8xb6-1x1x8-40e_sthv2-rgb.py',
    'tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py',
]


def slice_tin_shift(x, shift):
    """mmcv's tin_shift forward (``out[n, t + s, c] = x[n, t, c]``) as one
    slice copy per clip and channel group into a zero tensor; autograd
    through the copies gives the true gradient."""
    n_clips, frames, channels, _ = x.shape
    group_size = channels // shift.shape[1]
    out = torch.zeros_like(x)
    for n in range(n_clips):
        for g in range(shift.shape[1]):
            s = int(shift[n, g])
            c = slice(g * group_size, (g + 1) * group_size)
            if abs(s) < frames:
                out[n, max(s, 0):frames + min(s, 0), c] = \
                    x[n, max(-s, 0):frames - max(s, 0), c]
    return out


@pytest.fixture
def mmcv_ops_stand_in(monkeypatch):
    """What MMAction2's linear_sampler imports (`from mmcv.ops import
    tin_shift`), which mmcv-lite lacks."""
    monkeypatch.setitem(__import__('sys').modules, 'mmcv.ops',
                        types.SimpleNamespace(tin_shift=slice_tin_shift))


def build_pair(depth=18, num_segments=4, shift_div=4, seed=0):
    kwargs = dict(depth=depth, num_segments=num_segments,
                  shift_div=shift_div, pretrained=None)
    torch.manual_seed(seed)
    stock = ResNetTIN(**kwargs)
    torch.manual_seed(seed)
    ours = ResNetTINShift(**kwargs)
    return stock, ours


def test_registered_under_its_own_name_and_its_old_one():
    assert MODELS.get('ResNetTINShift') is ResNetTINShift
    assert MODELS.get('ResNetTIN') is ResNetTIN  # MMAction2's, untouched
    # configs and users have the old name: the same class, the same model
    assert MODELS.get('ResNetTINTorch') is ResNetTINShift
    new, old = (MODELS.build(dict(type=name, depth=18, num_segments=4,
                                  pretrained=None))
                for name in ('ResNetTINShift', 'ResNetTINTorch'))
    assert type(new) is type(old) is ResNetTINShift
    assert new.state_dict().keys() == old.state_dict().keys()
    _, ours = build_pair()
    interlaces = [m for m in ours.modules()
                  if isinstance(m, TemporalInterlaceShift)]
    assert len(interlaces) == 8  # before conv1 of every R18 block


def test_same_parameters_and_initialisation_as_mmaction2():
    stock, ours = build_pair()
    stock_state, our_state = stock.state_dict(), ours.state_dict()
    assert list(stock_state) == list(our_state)
    for key, value in stock_state.items():
        torch.testing.assert_close(our_state[key], value, rtol=0, atol=0)
    # an MMAction2 TIN checkpoint loads unchanged (another seed's weights)
    other, _ = build_pair(seed=1)
    ours.load_state_dict(other.state_dict(), strict=True)
    assert 'layer1.0.conv1.conv.net1.offset_net.fc2.bias' in our_state


def assert_close_at_scale(actual, expected, msg=''):
    """float32 results summed in another order: errors relative to the
    tensor's largest value."""
    scale = max(expected.abs().max().item(), 1.)
    torch.testing.assert_close(actual, expected, rtol=1e-3,
                               atol=1e-4 * scale, msg=msg)


def test_forward_and_backward_equal_mmaction2(mmcv_ops_stand_in):
    stock, ours = build_pair(seed=1)
    with torch.no_grad():  # offsets off the integers, weights off 1
        for model in (stock, ours):
            for name, p in model.named_parameters():
                if 'offset_net.fc2.bias' in name:
                    p.copy_(torch.tensor([0.3, -0.8]))
    stock.train(), ours.train()
    x = torch.randn(8, 3, 16, 16)
    out_stock, out_ours = stock(x), ours(x)
    assert_close_at_scale(out_ours, out_stock)
    out_stock.square().sum().backward()
    out_ours.square().sum().backward()
    stock_grads = dict(stock.named_parameters())
    for name, p in ours.named_parameters():
        assert_close_at_scale(p.grad, stock_grads[name].grad, msg=name)
    assert ours.layer2[0].conv1.conv.net1.offset_net.fc2.weight.grad.abs(
    ).sum() > 0


def force_integer_interlace(model, offset):
    """OffsetNet outputs `offset` for both groups, WeightNet 1."""
    # 4 * (sigmoid(b) - 0.5) = offset
    bias = math.log((offset + 2) / (2 - offset))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TemporalInterlaceShift):
                m.offset_net.fc2.weight.zero_()
                m.offset_net.fc2.bias.fill_(bias)
                m.weight_net.conv.weight.zero_()
                m.weight_net.conv.bias.zero_()  # 2 * sigmoid(0) = 1


def test_integer_offsets_and_unit_weights_are_tsm():
    """Offsets -1 and weights 1: the first C/8 channels move one frame back,
    the next C/8 one forward (groups o1, o2, -o1, -o2 of C/16 channels):
    TSM with shift_div 8, block by block."""
    torch.manual_seed(0)
    tsm = ResNetTSM(18, num_segments=4, shift_div=8, pretrained=None,
                    pretrained2d=False)
    tsm.init_weights()
    ours = ResNetTINShift(18, num_segments=4, shift_div=4, pretrained=None)
    state = {k.replace('conv1.conv.net.', 'conv1.conv.net2.'): v
             for k, v in tsm.state_dict().items()}
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected
    assert all('offset_net' in k or 'weight_net' in k for k in missing)
    tsm.double().eval(), ours.double().eval()
    force_integer_interlace(ours, offset=-1.0)
    x = torch.randn(8, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    out_tsm = tsm(x)
    out_ours = ours(x)
    torch.testing.assert_close(out_ours, out_tsm, rtol=1e-9, atol=1e-9)
    grad_out = torch.randn_like(out_tsm)
    grad_tsm, = torch.autograd.grad(out_tsm, x, grad_out)
    grad_ours, = torch.autograd.grad(out_ours, x, grad_out)
    torch.testing.assert_close(grad_ours, grad_tsm, rtol=1e-9, atol=1e-9)
    # and not by accident: offsets +1 swap the two folds
    force_integer_interlace(ours, offset=1.0)
    assert not torch.allclose(ours(x), out_tsm, atol=1e-3)


def relative_error(actual, expected):
    """||actual - expected|| / ||expected||, in float64."""
    expected = expected.double()
    return ((actual.double() - expected).norm() / expected.norm()).item()


#: bfloat16 against float64 through R18 in eval mode (batch norm an affine
#: map: training mode's batch statistics of 8 frames would amplify the
#: rounding): each of its ~20 layers rounds its inputs and weights
#: (relative error 2^-9 each, about 2^-8 a layer); summed in the worst case
#: over the layers, 20 x 2^-8 ~ 0.08 of the output's norm. A wrong
#: interlace (shift, offsets, weights) moves C/4 channels of every block:
#: an error of the order of the output itself.
BF16_RELATIVE = 20 * 2.0**-8


def test_keeps_the_input_dtype():
    """float64 and bfloat16 in, the same dtype out, and the float64 model's
    values: float32's up to float32 rounding, bfloat16's within the bound
    above."""
    _, ours = build_pair(seed=1)
    ours.eval()
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32, dtype=torch.float64)
    expected = ours.double()(x)
    out32 = ours.float()(x.float())
    assert out32.dtype == torch.float32
    assert_close_at_scale(out32, expected.float())
    out16 = ours.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert out16.dtype == torch.bfloat16
    assert relative_error(out16, expected) < BF16_RELATIVE


def test_runs_under_bfloat16_autocast():
    """Autocast runs the convolutions in bfloat16 around the interlace: its
    output is float32's within the bfloat16 bound, the offset net's
    gradient within twice that (it is a difference of neighbouring frames'
    features, the interpolation's derivative: cancellation)."""
    _, ours = build_pair(seed=1)
    ours.eval()
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    grad_of = ours.layer1[0].conv1.conv.net1.offset_net.fc2.weight
    expected = ours(x)
    expected.sum().backward()
    expected_grad = grad_of.grad.clone()
    ours.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ours(x)
    assert out.dtype == torch.bfloat16
    assert relative_error(out, expected.detach()) < BF16_RELATIVE
    out.float().sum().backward()
    assert expected_grad.abs().max() > 0
    assert relative_error(grad_of.grad, expected_grad) < 2 * BF16_RELATIVE


def test_bad_frame_count_names_the_config_key():
    _, ours = build_pair(num_segments=3)
    with pytest.raises(ValueError, match='8 frames .* num_segments = 3.*'
                       'model.backbone.num_segments'):
        ours(torch.randn(8, 3, 16, 16))


def test_bad_shift_div_names_the_config_key():
    _, ours = build_pair(shift_div=8)  # 64 // 8 = 8 channels: 4 groups of 2
    ours(torch.randn(4, 3, 32, 32))
    _, ours = build_pair(shift_div=32)  # 64 // 32 = 2 channels
    with pytest.raises(ValueError, match='64 // 32 = 2 channels .* 4 '
                       'interlace groups; change model.backbone.shift_div'):
        ours(torch.randn(4, 3, 32, 32))


def snippet(path, mark='ResNetTINShift'):
    """The one ```python block of ``path`` that mentions ``mark``."""
    blocks = [block for block in re.findall(
        r'```python\n(.*?)```', path.read_text(encoding='utf-8'), re.S)
        if mark in block]
    assert len(blocks) == 1, f'{path.name}: {len(blocks)} TIN snippets'
    return blocks[0]


def statements(code):
    """The lines of ``code`` without comments."""
    lines = (line.split('#')[0].rstrip() for line in code.splitlines())
    return [line for line in lines if line]


def mmaction_tin_config_on_ours(tmp_path, name):
    """The README's two-line move of an MMAction2 TIN config onto
    ResNetTINShift, verbatim, on top of MMAction2's config ``name``."""
    code = snippet(helpers.REPO / 'README.md')
    base, = re.findall(r'mmaction::recognition/tin/(\S+?\.py)', code)
    assert base in TIN_CONFIGS
    child = tmp_path / f'my_{name}'
    child.write_text(code.replace(base, name))
    return Config.fromfile(str(child))


def test_docs_give_the_readme_snippet():
    assert statements(snippet(helpers.REPO / 'docs' / 'models' / 'tin.md')) == \
        statements(snippet(helpers.REPO / 'README.md'))


@pytest.mark.parametrize('name', TIN_CONFIGS)
def test_mmaction2_tin_config_trains_and_tests(tmp_path, name):
    cfg = mmaction_tin_config_on_ours(tmp_path, name)
    assert cfg.model.backbone.type == 'ResNetTINShift'
    cfg.model.backbone.pretrained = None  # nothing to download here
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model.backbone, ResNetTINShift)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    frames = cfg.train_dataloader.dataset.pipeline[
        [s['type'] for s in cfg.train_dataloader.dataset.pipeline].index(
            'SampleFrames')]['num_clips']
    assert model.backbone.num_segments == frames == 8
    num_classes = cfg.model.cls_head.num_classes
    data = dict(
        inputs=[torch.randint(0, 256, (frames, 3, 32, 32)).float()
                for _ in range(2)],
        data_samples=[ActionDataSample().set_gt_label(label)
                      for label in (0, num_classes - 1)])
    offset_fc = model.backbone.layer3[0].conv1.conv.net1.offset_net.fc2
    before = offset_fc.weight.detach().clone()
    logits = []  # what the head computes, to recompute loss and scores from
    model.cls_head.register_forward_hook(
        lambda module, args, out: logits.append(out.detach()))
    model.train()
    losses = model.train_step(data, optim_wrapper)
    labels = torch.tensor([0, num_classes - 1])
    torch.testing.assert_close(
        losses['loss_cls'], F.cross_entropy(logits[0], labels))
    assert not torch.equal(offset_fc.weight, before)  # TIN itself learns
    model.eval()
    with torch.no_grad():
        preds = model.test_step(dict(inputs=data['inputs'][:1],
                                     data_samples=data['data_samples'][:1]))
    # one clip: its class probabilities (average_clips='prob')
    assert preds[0].pred_score.shape == (num_classes, )
    torch.testing.assert_close(preds[0].pred_score,
                               logits[1][0].softmax(0))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    _, ours = build_pair(seed=1)
    ours.train()
    x = torch.randn(8, 3, 16, 16)
    out_cpu = ours(x)
    out_cpu.square().sum().backward()
    grads_cpu = {n: p.grad.clone() for n, p in ours.named_parameters()}
    ours.zero_grad()
    ours.cuda()
    with helpers.ieee_float32():  # TF32 would round by ~1e-3
        out_cuda = ours(x.cuda())
        out_cuda.square().sum().backward()
    assert_close_at_scale(out_cuda.cpu(), out_cpu.detach())
    for name, p in ours.named_parameters():
        assert_close_at_scale(p.grad.cpu(), grads_cpu[name], msg=name)
