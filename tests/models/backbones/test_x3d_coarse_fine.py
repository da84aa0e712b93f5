"""X3DCoarseFine: X3D-M underneath, Grid Pool after layer1, fusion."""
import pytest
import torch
from mmaction.models.backbones import X3D
from mmaction.registry import MODELS

import mmdtf  # noqa: F401


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


def test_bad_temporal_pool_is_named():
    with pytest.raises(ValueError, match="'avg'"):
        MODELS.build(dict(type='X3DCoarseFine', temporal_pool='avg'))
