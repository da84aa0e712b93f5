"""TCPHead: values against a naive float64 reference, gradients, float32
iSQRT under autocast, input layouts, TCPNet's view fusion, and the clip axis
under multi-clip testing in Recognizer2D and Recognizer3D."""
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from naive_tcp_head import naive_tcp_head  # tests/ is on sys.path
from torch.func import functional_call

from mmdtf.models.heads.tcp import covariance_pool, isqrt, upper_triangle

TINY = dict(num_classes=3, in_channels=5, mid_channels=6, tcp_channels=4,
            dropout_ratio=0)


def randomised(head, seed=1):
    """Every parameter and BN statistic away from its init (the attention
    starts as the identity, the classifier near zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features,
                                                 generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features,
                                               generator=gen) + 0.5)
    return head.eval()


@pytest.mark.parametrize('num_iterations', [1, 3])
def test_matches_naive_float64_reference(num_iterations):
    """The whole head, eval mode, against the frame-by-frame reference, in
    both input layouts: float64 rounding (~1e-15) is all that may differ,
    1e-10 leaves room for it; a missing eps, step or frame shift is
    >1e-6."""
    torch.manual_seed(0)
    head = randomised(MODELS.build(dict(
        type='TCPHead', num_segments=4, num_iterations=num_iterations,
        **TINY)).double())
    x = torch.randn(3 * 4, 5, 3, 2, dtype=torch.float64).relu()
    with torch.no_grad():
        expected = naive_tcp_head(head, x, 4)
        torch.testing.assert_close(head(x), expected, rtol=1e-10,
                                   atol=1e-12)
        # Recognizer3D's layout (N, C, T, H, W): the same clips
        x3d = x.view(3, 4, 5, 3, 2).transpose(1, 2)
        torch.testing.assert_close(head(x3d), expected, rtol=1e-10,
                                   atol=1e-12)


def test_gradcheck_float64():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='TCPHead', num_segments=3, **TINY)).double()
    with torch.no_grad():  # off the zero init: every path carries gradient
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    names = [n for n, _ in head.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in
              head.parameters()]
    x = torch.randn(2 * 3, 5, 2, 2, dtype=torch.float64, requires_grad=True)

    def scores(x, *params):
        return functional_call(head, dict(zip(names, params)), (x, 3))

    # fast mode: the Jacobians along random directions, one per tensor
    assert torch.autograd.gradcheck(scores, (x, *params), eps=1e-6,
                                    atol=1e-5, fast_mode=True)


def test_isqrt_in_float32_under_autocast():
    """Under bfloat16 autocast the reduction and the attention run in
    bfloat16, the covariance and Newton-Schulz in float32 on their output:
    the same float32 functions on the recorded bfloat16 attention output
    give the same values. Tolerance: the same float32 operations, possibly
    summed in another order: the covariance sums M = 16 products and the 5
    products of 4 x 4 matrices 4 terms each, at most ~36 roundings of
    u = 6e-8 per value (2e-6), 1e-5 relative to the largest value. bfloat16
    there (u = 4e-3) would be off by >1e-3."""
    torch.manual_seed(0)
    head = randomised(MODELS.build(dict(type='TCPHead', num_segments=4,
                                        **TINY)))
    seen = {}
    head.attention.register_forward_hook(
        lambda module, args, output: seen.update(attended=output))
    x = torch.randn(8, 5, 2, 2).relu()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        pooled = head.pool(x, 4)
        scores = head(x, 4)
    attended = seen['attended']
    assert attended.dtype == torch.bfloat16  # autocast reached the head
    assert pooled.dtype == torch.float32
    assert scores.shape == (2, 3) and torch.isfinite(scores).all()
    clips = torch.stack([
        torch.cat([attended[v * 4 + s].float().flatten(1) for s in range(4)],
                  dim=1) for v in range(2)])  # (clips, D, T*H*W)
    expected = upper_triangle(isqrt(covariance_pool(clips), 3))
    torch.testing.assert_close(pooled, expected, rtol=1e-5,
                               atol=1e-5 * expected.abs().max().item())


def test_max_prob_is_tcpnets_view_fusion():
    """``average_clips='max_prob'``: per sample and class, the largest
    softmax probability over the views (TCPNet's test_models.py)."""
    torch.manual_seed(0)
    head = MODELS.build(dict(type='TCPHead', num_segments=4,
                             average_clips='max_prob', **TINY))
    scores = torch.randn(2 * 30, 3) * 3
    expected = torch.tensor([[
        max(torch.softmax(scores[n * 30 + v], 0)[c].item()
            for v in range(30)) for c in range(3)] for n in range(2)])
    torch.testing.assert_close(head.average_clip(scores, 30), expected)
    head.average_clips = 'prob'  # BaseHead's own choices still work
    torch.testing.assert_close(
        head.average_clip(scores, 30),
        torch.softmax(scores.view(2, 30, 3), 2).mean(1))


def test_bad_inputs_name_the_config_key():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='TCPHead', num_segments=4, **TINY))
    with pytest.raises(ValueError, match='cls_head.num_segments'):
        head(torch.randn(12, 5, 2, 2), num_segs=6)
    with pytest.raises(ValueError, match='cls_head.num_segments'):
        head(torch.randn(2, 5, 3, 2, 2))


class TinyBackbone(torch.nn.Module):
    """A strided conv (2D or 3D, time kept) and a ReLU: cheap features."""

    def __init__(self, dims):
        super().__init__()
        conv = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d
        stride = 4 if dims == 2 else (1, 4, 4)
        self.conv = conv(3, 8, 4, stride=stride)

    def forward(self, x):
        return self.conv(x).relu()


MODELS.register_module('TCPTestTinyBackbone2d', module=lambda: TinyBackbone(2),
                      force=True)
MODELS.register_module('TCPTestTinyBackbone3d', module=lambda: TinyBackbone(3),
                      force=True)


def recognizer(kind, num_segments):
    backbone = dict(type=f'TCPTestTinyBackbone{kind}')
    fmt = 'NCHW' if kind == '2d' else 'NCTHW'
    model = MODELS.build(dict(
        type='Recognizer2D' if kind == '2d' else 'Recognizer3D',
        backbone=backbone,
        cls_head=dict(type='TCPHead', num_classes=3, in_channels=8,
                      num_segments=num_segments, average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape=fmt)))
    model.init_weights()
    with torch.no_grad():  # attention on: clips differ in what they see
        model.cls_head.attention.conv_t.weight.normal_(0, 0.1)
    return model.eval()


@pytest.mark.parametrize('kind', ['2d', '3d'])
def test_10x3_views_are_averaged_per_sample(kind):
    """Each of 2 samples' 30 views (10 clips x 3 crops) scored alone equals
    its share of the batched test step; no view leaks into the other
    sample."""
    torch.manual_seed(0)
    t = 4
    model = recognizer(kind, t)
    if kind == '2d':  # (N, views * T, C, H, W): T consecutive frames a clip
        inputs = torch.randn(2, 30 * t, 3, 16, 16) * 50
        views = inputs.view(2, 30, 1, t, 3, 16, 16)
    else:  # (N, views, C, T + 3, H, W): the kernel of 4 takes 3 frames
        inputs = torch.randn(2, 30, 3, t + 3, 16, 16) * 50
        views = inputs.view(2, 30, 1, 1, 3, t + 3, 16, 16)
    samples = [ActionDataSample().set_gt_label(0) for _ in range(2)]
    with torch.no_grad():
        batched = model(inputs, samples, mode='predict')
        for n in range(2):
            per_view = torch.cat([
                model(views[n, v], [ActionDataSample().set_gt_label(0)],
                      mode='predict')[0].pred_score[None]
                for v in range(30)])
            assert per_view.std(0).max() > 1e-4  # views do differ
            torch.testing.assert_close(batched[n].pred_score,
                                       per_view.mean(0), rtol=1e-4,
                                       atol=1e-6)


@pytest.mark.parametrize('kind', ['2d', '3d'])
def test_training_step_shapes_and_loss(kind):
    torch.manual_seed(0)
    t = 4
    model = recognizer(kind, t).train()
    shape = (2, t, 3, 16, 16) if kind == '2d' else (2, 1, 3, t + 3, 16, 16)
    samples = [ActionDataSample().set_gt_label(i) for i in range(2)]
    losses = model(torch.randn(shape), samples, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    assert model.cls_head.attention.tsa.norm.weight.grad is not None
