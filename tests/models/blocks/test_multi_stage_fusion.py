"""Gaussian alignment and fine-feature reweighting against loops."""
import math

import torch

from mmdtf.models.blocks import (FineFeatureReweighting,
                                      GaussianAlignment, MultiStageFusion)


def naive_gaussian(centers, mask, ratio):
    b, n = centers.shape
    tf = mask.shape[1]
    out = torch.zeros(b, tf, n, dtype=torch.float64)
    for i in range(b):
        sigma = ratio * float(mask[i].sum())
        for k in range(n):
            vals = [math.exp(-(t - float(centers[i, k]))**2 / (2 * sigma**2))
                    if mask[i, t] else 0.0 for t in range(tf)]
            top = max(vals)
            for t in range(tf):
                out[i, t, k] = vals[t] / top
    return out


def test_gaussian_weights_match_formula_and_mask():
    centers = torch.tensor([[0.0, 3.3, 9.0], [1.0, 2.5, 5.7]],
                           dtype=torch.float64)
    mask = torch.ones(2, 10, dtype=torch.float64)
    mask[1, 6:] = 0  # second video: 6 fine frames, padded to 10
    got = GaussianAlignment(1 / 8)(centers, mask)
    torch.testing.assert_close(got, naive_gaussian(centers, mask, 1 / 8))
    assert (got[1, 6:] == 0).all()


def test_narrow_gaussian_picks_nearest_fine_frame():
    torch.manual_seed(0)
    fine = torch.randn(2, 4, 10, 2, 3)
    centers = torch.tensor([[2.4, 7.6, 0.0], [4.49, 9.0, 5.51]])
    weights = GaussianAlignment(1e-4)(centers, torch.ones(2, 10))
    nearest = [[2, 8, 0], [4, 9, 6]]
    for b in range(2):
        for k in range(3):
            onehot = torch.zeros(10)
            onehot[nearest[b][k]] = 1
            assert torch.equal(weights[b, :, k], onehot)
    aligned = FineFeatureReweighting.align(
        fine, torch.rand(2, 1, 10, 2, 3) + 0.1, weights)
    for b in range(2):
        torch.testing.assert_close(aligned[b], fine[b][:, nearest[b]],
                                   rtol=1e-5, atol=1e-5)


def test_align_is_attention_and_gaussian_weighted_mean():
    torch.manual_seed(1)
    fine = torch.randn(2, 3, 7, 2, 2, dtype=torch.float64)
    att = torch.rand(2, 1, 7, 2, 2, dtype=torch.float64)
    w = torch.rand(2, 7, 4, dtype=torch.float64)
    got = FineFeatureReweighting.align(fine, att, w)
    ref = torch.zeros(2, 3, 4, 2, 2, dtype=torch.float64)
    for b in range(2):
        for n in range(4):
            for y in range(2):
                for x in range(2):
                    a = att[b, 0, :, y, x] * w[b, :, n]
                    ref[b, :, n, y, x] = (fine[b, :, :, y, x] * a).sum(1) / (
                        a.sum() + 1e-6)
    torch.testing.assert_close(got, ref)


def test_mix_is_scale_and_shift_of_concatenated_levels():
    torch.manual_seed(2)
    fusion = MultiStageFusion((2, 3), (4, 5))
    fine = [torch.randn(1, 2, 6, 1, 1), torch.randn(1, 3, 6, 1, 1)]
    shifts, scales, weights = fusion.align(
        fine, torch.ones(1, 6), torch.tensor([[0.5, 2.0, 4.5]]))
    assert weights.shape == (1, 6, 3)
    x = torch.randn(1, 5, 3, 2, 2)
    got = fusion.mix(x, 1, shifts, scales)
    conv_s, conv_m = fusion.mix_shift[1], fusion.mix_scale[1]
    cat_s = torch.cat(shifts, 1)[0, :, :, 0, 0]  # (5, 3)
    cat_m = torch.cat(scales, 1)[0, :, :, 0, 0]
    ws, bs = conv_s.weight[:, :, 0, 0, 0], conv_s.bias
    wm, bm = conv_m.weight[:, :, 0, 0, 0], conv_m.bias
    shift = ws @ cat_s + bs[:, None]
    scale = torch.sigmoid(wm @ cat_m + bm[:, None])
    ref = x[0] * scale[:, :, None, None] + shift[:, :, None, None]
    torch.testing.assert_close(got[0], ref, rtol=1e-5, atol=1e-5)


def conv1x1(conv, x):
    """A 1x1x1 Conv3d on (C, ...) by matrix product."""
    w = conv.weight.reshape(conv.weight.shape[0], -1)
    return torch.einsum('oc,c...->o...', w, x) + conv.bias.view(
        -1, *[1] * (x.dim() - 1))


def test_pooled_reweighting_averages_space_before_the_mlps():
    # the public rw6 (pool=True): one shift and one scale per coarse frame
    torch.manual_seed(3)
    layer = FineFeatureReweighting(4, 3, sigmoid_scale=True, pool_space=True,
                                   dropout_ratio=0.5).double().eval()
    fine = torch.randn(2, 4, 6, 2, 3, dtype=torch.float64)
    weights = torch.rand(2, 6, 5, dtype=torch.float64)
    shift, scale = layer(fine, weights)
    assert shift.shape == scale.shape == (2, 3, 5, 1, 1)
    for b in range(2):
        att = torch.sigmoid(conv1x1(layer.attention[2], torch.relu(
            conv1x1(layer.attention[0], fine[b]))))
        aligned = FineFeatureReweighting.align(fine[b:b + 1], att[None],
                                               weights[b:b + 1])[0]
        pooled = aligned.mean((2, 3))  # (C, N)
        ref_shift = conv1x1(layer.shift[2], torch.relu(
            conv1x1(layer.shift[0], pooled)))
        ref_scale = torch.sigmoid(conv1x1(layer.scale[2], torch.relu(
            conv1x1(layer.scale[0], pooled))))
        torch.testing.assert_close(shift[b, :, :, 0, 0], ref_shift)
        torch.testing.assert_close(scale[b, :, :, 0, 0], ref_scale)
    # dropout acts between the MLP layers in training only
    layer.train()
    torch.manual_seed(4)
    dropped, _ = layer(fine, weights)
    assert not torch.allclose(dropped, shift)


def test_mix_max_pools_each_level_to_the_stage_size():
    # the public MixingLayer resizes with adaptive max pooling
    torch.manual_seed(5)
    fusion = MultiStageFusion((2, 3), (4, 5)).double()
    shifts = [torch.randn(1, 2, 3, 2, 2, dtype=torch.float64),
              torch.randn(1, 3, 3, 1, 1, dtype=torch.float64)]
    scales = [torch.randn(1, 2, 3, 2, 2, dtype=torch.float64),
              torch.randn(1, 3, 3, 1, 1, dtype=torch.float64)]
    x = torch.randn(1, 4, 3, 1, 1, dtype=torch.float64)
    got = fusion.mix(x, 0, shifts, scales)
    cat_s = torch.cat([shifts[0].amax((3, 4)), shifts[1][..., 0, 0]], 1)[0]
    cat_m = torch.cat([scales[0].amax((3, 4)), scales[1][..., 0, 0]], 1)[0]
    shift = conv1x1(fusion.mix_shift[0], cat_s)
    scale = torch.sigmoid(conv1x1(fusion.mix_scale[0], cat_m))
    torch.testing.assert_close(got[0, :, :, 0, 0],
                               x[0, :, :, 0, 0] * scale + shift)
    # to a larger stage, values repeat (2x2 -> 4x4)
    big = fusion.mix(torch.zeros(1, 4, 3, 4, 4, dtype=torch.float64), 0,
                     shifts, scales)
    torch.testing.assert_close(big[..., ::2, ::2], big[..., 1::2, 1::2])
