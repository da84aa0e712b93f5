"""X3DCoarseFine: X3D-M underneath, Grid Pool after layer1, fusion."""
import pytest
import torch
from mmaction.models.backbones import X3D
from mmaction.registry import MODELS

import mmdtf  # noqa: F401
from mmdtf.models.blocks import (GaussianAlignment, confidences_to_grid,
                                 sample_frames)


def build(**kwargs):
    cfg = dict(type='X3DCoarseFine', gamma_d=1, num_samples=4)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()  # X3D.train returns None
    return model


def test_defaults_are_x3d_m_and_load_x3d_m_weights():
    model = MODELS.build(dict(type='X3DCoarseFine', temporal_pool=None))
    x3d_m = X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2)
    ours = model.state_dict()
    theirs = x3d_m.state_dict()
    assert set(ours) == set(theirs)  # no extra layer without pooling/fusion
    assert all(ours[k].shape == v.shape for k, v in theirs.items())
    assert model.feat_dim == 432 and model.stage_channels == [24, 48, 96, 192]


def test_uniform_pool_samples_layer1_at_k_T_minus_1_over_K():
    torch.manual_seed(0)
    model = build(temporal_pool='uniform')
    x = torch.randn(1, 3, 9, 32, 32)  # T = 9, K = 4: frames 0 2 4 6 8
    with torch.no_grad():
        out, grid, weights = model(x)
        y = model.layer1(model.conv1_t(model.conv1_s(x)))[:, :, ::2]
        for name in model.res_layers[1:]:
            y = getattr(model, name)(y)
        y = model.conv5(y)
    assert weights is None and grid.shape == (1, 5)
    torch.testing.assert_close(out, y, rtol=1e-5, atol=1e-5)


def test_forward_levels_are_the_stage_outputs():
    model = build(temporal_pool=None)
    levels = model.forward_levels(torch.randn(1, 3, 6, 32, 32))
    assert [tuple(t.shape[1:3]) for t in levels] == [
        (24, 6), (48, 6), (96, 6), (192, 6), (432, 6)]


def test_fusion_changes_output_and_trains_grid_pool():
    torch.manual_seed(1)
    model = build(fusion=dict(), num_samples=2)
    model.train()
    x = torch.randn(2, 3, 8, 16, 16)
    fine = [torch.randn(2, c, 12, 1, 1) for c in (24, 48, 96, 192)]
    mask = torch.ones(2, 12)
    span = torch.tensor([[0., 11.], [2., 8.]])
    out, grid, weights = model(x, fine, mask, span)
    assert out.shape == (2, 432, 3, 1, 1) and weights.shape == (2, 12, 3)
    out.sum().backward()
    conf = model.grid_pool.confidence_net[-1].weight.grad
    assert torch.isfinite(conf).all() and conf.abs().sum() > 0
    mixed = model.fusion.mix_shift[0].weight.grad
    assert mixed.abs().sum() > 0
    with pytest.raises(ValueError, match='fine_feats'):
        model(x)


def randomise(model, seed):
    """Random parameters and batch-norm statistics everywhere (Grid Pool's
    zero-initialised last layer and X3D's zero residual scales included),
    so no piece is an identity that would hide a wiring mistake."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype)
                    / fan_in**0.5)
            if name.endswith('bn.weight'):
                p.add_(1.0)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.2 * torch.randn(
                    m.running_mean.shape, generator=gen,
                    dtype=m.running_mean.dtype))
                m.running_var.uniform_(0.5, 1.5, generator=gen)
        model.grid_pool.confidence_net[-1].weight.mul_(8)


def test_fusion_forward_matches_hand_wired_reference_float64():
    # The coarse-fine forward wired by hand from pieces checked on their own
    # (MMAction2's X3D stages, GridPool.confidences, confidences_to_grid and
    # sample_frames against loops, GaussianAlignment against a loop, the
    # reweighting and the mixing against matrices): Grid Pool after layer1,
    # each coarse sample centred at start + g_k * span fine frames, the fine
    # levels layer1..layer4 (not conv5) aligned once, mixed after the pool
    # and after layer2, 3 and 4, then conv5.
    torch.manual_seed(2)
    model = build(gamma_w=0.25, fusion=dict(), num_samples=None,
                  pool_ratio=4).double()
    randomise(model, seed=3)
    x = torch.randn(2, 3, 16, 32, 32, dtype=torch.float64)
    channels = model.stage_channels + [model.feat_dim]
    fine = [torch.randn(2, c, 14, 2, 2, dtype=torch.float64)
            for c in channels]
    mask = torch.ones(2, 14, dtype=torch.float64)
    mask[1, 11:] = 0
    for level in fine:
        level[1, :, 11:] = 0
    span = torch.tensor([[1.5, 11.0], [0.0, 9.5]], dtype=torch.float64)
    with torch.no_grad():
        out, grid, weights = model(x, fine, mask, span)
        y = model.layer1(model.conv1_t(model.conv1_s(x)))
        ref_grid = confidences_to_grid(model.grid_pool.confidences(y))
        y = sample_frames(y, ref_grid)
        centers = torch.stack([span[b, 0] + ref_grid[b] * span[b, 1]
                               for b in range(2)])
        ref_weights = GaussianAlignment(1 / 8)(centers, mask)
        fusion = model.fusion
        shifts, scales = zip(*(fusion.reweight[i](fine[i], ref_weights)
                               for i in range(4)))
        y = fusion.mix(y, 0, shifts, scales)
        for i, name in enumerate(('layer2', 'layer3', 'layer4'), start=1):
            y = fusion.mix(getattr(model, name)(y), i, shifts, scales)
        ref = model.conv5(y)
    assert grid.shape == (2, 5)  # K = 16 / 4
    torch.testing.assert_close(grid, ref_grid, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(weights, ref_weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    assert (grid[:, 1:-1] - torch.tensor([.25, .5, .75])).abs().max() > 0.02
    # every fusion point matters: without fusion the output differs
    model.fusion = None
    with torch.no_grad():
        assert (model(x)[0] - out).abs().max() > 1e-2


def test_bad_temporal_pool_is_named():
    with pytest.raises(ValueError, match="'avg'"):
        MODELS.build(dict(type='X3DCoarseFine', temporal_pool='avg'))
