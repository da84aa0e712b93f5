"""TCPHead: gradients, float32 iSQRT under autocast, input layouts, and the
clip axis under multi-clip testing in Recognizer2D and Recognizer3D."""
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from torch.func import functional_call

TINY = dict(num_classes=3, in_channels=5, mid_channels=6, tcp_channels=4,
            dropout_ratio=0)


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
    head = MODELS.build(dict(type='TCPHead', num_segments=4, **TINY))
    seen = {}

    def record(module, args, output):
        seen['fc_in'] = args[0].dtype

    head.fc_cls.register_forward_hook(record)
    x = torch.randn(8, 5, 2, 2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        pooled = head.pool(x, 4)
        scores = head(x, 4)
    assert pooled.dtype == torch.float32
    assert scores.shape == (2, 3) and torch.isfinite(scores).all()
    # the same representation as without autocast, up to the bf16 reduction
    torch.testing.assert_close(pooled, head.pool(x, 4), rtol=0.1, atol=0.05)


def test_bad_inputs_name_the_config_key():
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
