"""The demo's TSN baseline cannot see temporal order, as a property of the
model: permuting the frames of a clip changes neither its scores nor its
training loss and gradients. The demo's classes come in time-reversed pairs
(tools/data/make_demo_dataset.py), so TSN can at best tell which pair a video is
from: 50% top-1 (README). The C2D baseline, with the same check, does see
the order."""
import copy

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

DEMO = helpers.REPO / 'configs' / 'demo'
SEGMENTS = 8  # tsn_r18_demo.py: 8 one-frame segments per clip
SIZE = 16  # (the demo crops 32 px; the property holds at any size)


def demo_model(name):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(DEMO / name)).model)
    model.init_weights()
    with torch.no_grad():  # a head that is not ~0 at init
        torch.nn.init.normal_(model.cls_head.fc_cls.weight, std=0.5)
    return model.double()


def samples(labels):
    return [ActionDataSample().set_gt_label(label) for label in labels]


def scores_loss_grads(model, inputs, labels):
    """Test-mode class scores, and training-mode loss and parameter
    gradients (batch statistics, no dropout: a fixed function of the
    input), of a copy of ``model`` (training updates running statistics)."""
    model = copy.deepcopy(model)
    model.eval()
    with torch.no_grad():
        scores = torch.stack([p.pred_score for p in model(
            inputs, samples(labels), mode='predict')])
    model.train()
    model.cls_head.dropout.eval()
    model.zero_grad()
    loss = model(inputs, samples(labels), mode='loss')['loss_cls']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return scores, loss.detach(), grads


def test_tsn_demo_is_blind_to_frame_order():
    model = demo_model('tsn_r18_demo.py')
    torch.manual_seed(1)
    # two clips of 8 frames each, (N, segments, C, H, W) as the pipeline
    # packs them
    inputs = torch.randn(2, SEGMENTS, 3, SIZE, SIZE, dtype=torch.float64)
    labels = [0, 1]
    scores, loss, grads = scores_loss_grads(model, inputs, labels)
    assert scores.shape == (2, 8)
    for order in (torch.arange(SEGMENTS - 1, -1, -1),  # time reversed
                  torch.randperm(SEGMENTS)):
        permuted = scores_loss_grads(model, inputs[:, order], labels)
        # the same sums in another order: float64 rounding
        torch.testing.assert_close(permuted[0], scores, rtol=1e-12,
                                   atol=1e-14)
        torch.testing.assert_close(permuted[1], loss, rtol=1e-12, atol=0)
        for name, grad in grads.items():
            torch.testing.assert_close(permuted[2][name], grad, rtol=1e-9,
                                       atol=1e-12, msg=name)
    assert 0 < loss < 10 and any(g.abs().max() > 0 for g in grads.values())


def test_c2d_demo_sees_frame_order():
    """The check above can fail: the C2D baseline's stem convolves 4 frames,
    and reversing time changes its scores."""
    model = demo_model('c2d_r18_demo.py')
    torch.manual_seed(1)
    inputs = torch.randn(1, 1, 3, 16, SIZE, SIZE, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        scores = model(inputs, samples([0]), mode='predict')[0].pred_score
        reversed_ = model(inputs.flip(3), samples([0]),
                          mode='predict')[0].pred_score
    assert (reversed_ - scores).abs().max() > 1e-3 * scores.abs().max()
