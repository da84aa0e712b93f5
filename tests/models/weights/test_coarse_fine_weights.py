"""Public Coarse-Fine checkpoints converted into mmdtf give the public code's
own scores.

tests/fixtures/coarse_fine_public_x3d.pt was produced by the public code
(kkahatapitiya/Coarse-Fine-Networks, ``x3d_coarse.ResNet``, the model of
``train_coarse_fineFEAT.py``) run out of tree on CPU at small widths with
random weights: its state dict in the public key names (saved before the
sub-batch-norm statistics were aggregated, as a checkpoint written during
training), the inputs, and the outputs of its evaluation in float32 and in
float64. docs/models/coarse_fine.md says how it was made.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

from mmdtf.models.heads import CoarseFineFeatures
from mmdtf.models.weights.coarse_fine import (aggregate_split_stats,
                                              convert_coarse_fine)
from mmdtf.structures import FINE_LEVELS

FIXTURE = Path(__file__).resolve().parents[2] / 'fixtures' / \
    'coarse_fine_public_x3d.pt'
# the fixture's model in our config: X3D with stages of 8, 16, 32, 64
# channels, bottlenecks x1.5, 1, 1, 2, 1 blocks; 5 classes
MODEL = dict(
    type='CoarseFineRecognizer',
    backbone=dict(type='X3DCoarseFine', gamma_w=0.25, gamma_b=1.5,
                  gamma_d=0.3, temporal_pool='grid', pool_ratio=4,
                  fusion=dict(sigma_ratio=1 / 8)),
    cls_head=dict(type='PerFrameMultiLabelHead', num_classes=5,
                  in_channels=96, mid_channels=32, dropout_ratio=0.5,
                  fine_channels=24, unpool='public'))


@pytest.fixture(scope='module')
def fixture():
    data = torch.load(FIXTURE, weights_only=True)
    # a public checkpoint holds float32 (the fixture stores float16-exact
    # values as float16)
    data['state_dict'] = {k: v.float() if v.is_floating_point() else v
                          for k, v in data['state_dict'].items()}
    return data


def samples(fixture, span_frames):
    """Data samples as our pipeline makes them: each video's fine features
    unpadded (the recognizer pads them), and the clip's place on the fine
    time axis. The public code puts coarse sample k at
    ``start + g_k * T`` fine frames for a clip of T frames (``meta[:, 0]``
    and the clip length); ``span_frames`` is that T."""
    out = []
    for i, length in enumerate(fixture['fine_mask'].sum(1).int().tolist()):
        ds = ActionDataSample()
        ds.set_field([fixture['fine_feats'][k][i, :, :length].float().numpy()
                      for k in FINE_LEVELS], 'fine_feats')
        ds.set_field(np.array([fixture['meta'][i, 0], span_frames],
                              np.float32), 'clip_span')
        out.append(ds)
    return out


def run(fixture, dtype, span_frames=None, unpool='public'):
    """Our converted model on the fixture's inputs: the grid, the logits of
    the coarse frames, and the logits at every clip frame."""
    cfg = dict(MODEL, cls_head=dict(MODEL['cls_head'], unpool=unpool))
    model = MODELS.build(cfg).to(dtype).eval()
    # converted in the run's precision, as the public code aggregates its
    # batch-norm statistics in the precision it runs in
    state = {k: v.to(dtype) if v.is_floating_point() else v
             for k, v in fixture['state_dict'].items()}
    model.load_state_dict(convert_coarse_fine(state), strict=True)
    video = fixture['video']
    x = (video.to(dtype) - 128) / 64  # as the fixture's inputs were made
    with torch.no_grad():
        feats, _ = model.extract_feat(
            x, data_samples=samples(fixture, span_frames or video.shape[2]))
        coarse = model.cls_head(CoarseFineFeatures(
            feats.coarse, out_len=feats.coarse.shape[2],
            weights=feats.weights, fine_top=feats.fine_top))
        logits = model.cls_head(feats)
    return dict(grid=feats.grid, logits_coarse=coarse, logits=logits)


def test_converted_model_gives_the_public_float64_outputs(fixture):
    # Both in float64: what is left is float64 rounding (~1e-16 relative)
    # and the public code's guards (1e-16 added to the Gaussian's
    # denominators, machine epsilon to its grid inversion's), far below
    # 1e-10 here.
    ours = run(fixture, torch.float64)
    for key, value in ours.items():
        torch.testing.assert_close(value, fixture['float64'][key],
                                   rtol=1e-10, atol=1e-10, msg=key)


def test_converted_model_gives_the_public_float32_outputs(fixture):
    # Both in float32, each a different rounding of the same function (our
    # float64 run, checked above). Our own float32 error on this input and
    # this machine (AVX2 or AVX-512, whatever oneDNN picks) measures what
    # float32 rounding does to this computation; the public code rounds a
    # differently ordered sequence of the same operations, so its error is
    # of the same size: allowed 4x ours, plus 16 units in the last place of
    # the largest output in case our own run happens to round luckily.
    exact = run(fixture, torch.float64)
    ours = run(fixture, torch.float32)
    eps = torch.finfo(torch.float32).eps
    for key in ours:
        value = fixture['float32'][key]
        scale = exact[key].abs().max().item()
        our_error = (ours[key].double() - exact[key]).abs().max().item()
        tol = 4 * our_error + 16 * eps * scale
        error = (value.double() - exact[key]).abs().max().item()
        assert error <= tol, (key, error, tol)
        # a real difference is far above it: the exact GridUnpool, or
        # coarse samples placed at start + g_k (T - 1) instead of + g_k T
        if key == 'logits':
            for other in (run(fixture, torch.float64, unpool='exact'),
                          run(fixture, torch.float64,
                              span_frames=fixture['video'].shape[2] - 1)):
                moved = (other[key] - exact[key]).abs().max().item()
                assert moved > 100 * tol, (moved, tol)


def test_sub_batch_norm_statistics_are_aggregated_from_the_splits(fixture):
    state = fixture['state_dict']
    ours = convert_coarse_fine(state)
    means = state['layer1.0.bn1.split_bn.running_mean'].double().view(2, -1)
    variances = state['layer1.0.bn1.split_bn.running_var'].double().view(
        2, -1)
    mean = means.mean(0)
    var = variances.mean(0) + ((means - mean)**2).mean(0)
    got = ours['backbone.layer1.0.conv1.bn.running_mean'].double()
    torch.testing.assert_close(got, mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(
        ours['backbone.layer1.0.conv1.bn.running_var'].double(), var,
        rtol=1e-6, atol=1e-7)
    # the checkpoint's stale evaluation statistics are not used
    stale = state['layer1.0.bn1.bn.running_mean'].double()
    assert (got - stale).abs().max() > 0.1
    got_mean, got_var = aggregate_split_stats(
        state['bn5.split_bn.running_mean'], state['bn5.split_bn.running_var'],
        state['bn5.weight'].numel())
    assert got_mean.shape == got_var.shape == state['bn5.weight'].shape


def test_grid_pool_conv_bias_is_folded_into_the_running_mean(fixture):
    state = fixture['state_dict']
    ours = convert_coarse_fine(state)
    mean, _ = aggregate_split_stats(state['pool_1.bn1.split_bn.running_mean'],
                                    state['pool_1.bn1.split_bn.running_var'],
                                    state['pool_1.bn1.weight'].numel())
    torch.testing.assert_close(
        ours['backbone.grid_pool.confidence_net.0.bn.running_mean'],
        mean - state['pool_1.conv1.bias'])
    assert 'backbone.grid_pool.confidence_net.0.conv.bias' not in ours


def test_fine_stream_checkpoint_loads_into_the_fine_stream_config(fixture):
    # x3d_fine.ResNet (train_fine.py): the same X3D and head, without Grid
    # Pool and fusion, as configs/coarse_fine/x3d-m_fine-stream_... builds
    fine = {k: v for k, v in fixture['state_dict'].items()
            if not k.startswith(('pool_1.', 'rw', 'mix'))}
    model = MODELS.build(dict(
        MODEL, backbone=dict(MODEL['backbone'], temporal_pool=None,
                             fusion=None),
        cls_head=dict(MODEL['cls_head'], fine_channels=None)))
    model.load_state_dict(convert_coarse_fine(fine), strict=True)


@pytest.mark.parametrize('key', ['extra.weight', 'rw7.fc1.weight',
                                 'mix6.conv_at.weight'])
def test_unknown_key_is_named(fixture, key):
    state = dict(fixture['state_dict'], **{key: torch.zeros(1)})
    with pytest.raises(KeyError, match=repr(key).replace('.', r'\.')):
        convert_coarse_fine(state)
