"""PerFrameMultiLabelHead: the paper's loss by hand, unpooling, predict."""
import math

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample

from mmdtf.models.heads import CoarseFineFeatures, PerFrameMultiLabelHead


def bce(p, y):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def samples(labels):
    out = []
    for lab in labels:
        ds = ActionDataSample()
        ds.set_field(lab, 'frame_labels')
        out.append(ds)
    return out


def test_loss_is_frame_bce_plus_video_max_bce():
    torch.manual_seed(0)
    head = PerFrameMultiLabelHead(3, 8, mid_channels=4, dropout_ratio=0)
    feats = CoarseFineFeatures(coarse=torch.randn(2, 8, 7, 2, 2), out_len=7)
    labels = (np.random.RandomState(0).rand(2, 3, 7) > 0.7).astype('float32')
    losses = head.loss(feats, samples(labels))
    p = torch.sigmoid(head(feats)).detach().double().numpy()
    frame = np.mean([bce(p[b, c, t], labels[b, c, t]) for b in range(2)
                     for c in range(3) for t in range(7)])
    video = np.mean([bce(p[b, c].max(), labels[b, c].max())
                     for b in range(2) for c in range(3)])
    assert losses['loss_frame'].item() == pytest.approx(0.5 * frame, rel=1e-5)
    assert losses['loss_video'].item() == pytest.approx(0.5 * video, rel=1e-5)


def test_uniform_grid_unpools_to_linear_upsampling_and_predict():
    torch.manual_seed(1)
    head = PerFrameMultiLabelHead(2, 8, mid_channels=4).eval()
    coarse = torch.randn(1, 8, 5, 1, 1)
    grid = torch.linspace(0, 1, 5).view(1, 5)
    logits5 = head(CoarseFineFeatures(coarse, out_len=5))[0].detach()
    up = head(CoarseFineFeatures(coarse, out_len=17, grid=grid))[0].detach()
    for c in range(2):
        ref = np.interp(np.arange(17) / 4, np.arange(5), logits5[c].numpy())
        np.testing.assert_allclose(up[c].numpy(), ref, atol=1e-5)
    ds = head.predict(CoarseFineFeatures(coarse, out_len=17, grid=grid),
                      samples([np.zeros((2, 17))]))
    torch.testing.assert_close(ds[0].pred_frame_scores, torch.sigmoid(up))


def test_label_shape_mismatch_is_named():
    head = PerFrameMultiLabelHead(3, 8, mid_channels=4)
    feats = CoarseFineFeatures(coarse=torch.randn(1, 8, 7, 1, 1), out_len=7)
    with pytest.raises(ValueError, match='clip_len'):
        head.loss(feats, samples([np.zeros((3, 9), 'float32')]))


def test_bias_prior_starts_every_class_at_that_probability():
    head = PerFrameMultiLabelHead(3, 8, mid_channels=4, dropout_ratio=0,
                                  bias_prior=0.1)
    head.init_weights()
    head.fc1.weight.data.zero_()
    p = torch.sigmoid(head(CoarseFineFeatures(torch.randn(1, 8, 5, 1, 1),
                                              out_len=5)))
    torch.testing.assert_close(p, torch.full((1, 3, 5), 0.1))


def test_logit_fusion_is_the_public_rw6_on_space_averaged_features():
    # logits * sigmoid(MLP(mean_hw aligned)) + MLP(mean_hw aligned)
    torch.manual_seed(2)
    head = PerFrameMultiLabelHead(3, 8, mid_channels=4, fine_channels=6)
    head = head.double().eval()
    coarse = torch.randn(2, 8, 5, 2, 2, dtype=torch.float64)
    fine = torch.randn(2, 6, 7, 2, 2, dtype=torch.float64)
    weights = torch.rand(2, 7, 5, dtype=torch.float64)
    got = head(CoarseFineFeatures(coarse, out_len=5, weights=weights,
                                  fine_top=fine))
    fusion = head.logit_fusion

    def mlp(layers, x):  # (C, N) -> (out, N), 1x1 convs as matrices
        w1 = layers[0].weight.flatten(1)
        w2 = layers[2].weight.flatten(1)
        hidden = torch.relu(w1 @ x + layers[0].bias[:, None])
        return w2 @ hidden + layers[2].bias[:, None]

    for b in range(2):
        x = coarse[b].mean((2, 3))  # (8, 5)
        logits = head.fc2.weight[:, :, 0] @ torch.relu(
            head.fc1.weight[:, :, 0] @ x) + head.fc2.bias[:, None]
        att = torch.sigmoid(mlp(fusion.attention, fine[b].flatten(1)))
        att = att.view(1, 1, 7, 2, 2)
        pooled = fusion.align(fine[b:b + 1], att, weights[b:b + 1])[0].mean(
            (2, 3))
        ref = logits * torch.sigmoid(mlp(fusion.scale, pooled)) + mlp(
            fusion.shift, pooled)
        torch.testing.assert_close(got[b], ref)
