"""Grid Pool / GridUnpool against naive references (loops, np.interp)."""
import numpy as np
import pytest
import torch

from mmdtf.models.blocks import (GridPool, GridUnpool,
                                      confidences_to_grid, grid_unpool,
                                      sample_frames)


def naive_sample(x, grid):
    """Linear interpolation in time, one output frame at a time."""
    b, c, t, h, w = x.shape
    out = torch.zeros(b, c, grid.shape[1], h, w, dtype=x.dtype)
    for i in range(b):
        for k in range(grid.shape[1]):
            p = float(grid[i, k]) * (t - 1)
            lo = min(int(np.floor(p)), t - 1)
            hi = min(lo + 1, t - 1)
            a = p - lo
            out[i, :, k] = (1 - a) * x[i, :, lo] + a * x[i, :, hi]
    return out


def test_constant_confidences_sample_frames_k_T_minus_1_over_K():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 13, 4, 5)  # T = 13, K = 4 -> frames 0 3 6 9 12
    expected = x[:, :, [0, 3, 6, 9, 12]]
    for c in (0.0, 0.37, 0.9):
        grid = confidences_to_grid(torch.full((2, 4), c))
        assert torch.equal(sample_frames(x, grid), expected)
    # the module: uniform baseline, and Grid Pool at its (zero) init
    for uniform in (True, False):
        pool = GridPool(3, 4, uniform=uniform).eval()
        out, grid = pool(x)
        assert torch.equal(out, expected)
        assert torch.equal(grid, torch.tensor([[0, .25, .5, .75, 1.]] * 2))


def test_grid_is_normalised_cumulative_of_one_minus_confidence():
    conf = torch.tensor([[0.1, 0.5, 0.9]])
    steps = np.array([0.9, 0.5, 0.1])
    expected = np.concatenate([[0], np.cumsum(steps) / steps.sum()])
    np.testing.assert_allclose(confidences_to_grid(conf)[0].numpy(),
                               expected, rtol=1e-6)


def test_sample_frames_matches_naive_interpolation():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 11, 3, 2, dtype=torch.float64)
    grid = confidences_to_grid(torch.rand(2, 6, dtype=torch.float64))
    torch.testing.assert_close(sample_frames(x, grid), naive_sample(x, grid))


def test_dense_sampling_where_confident():
    conf = torch.tensor([[0.95, 0.95, 0.05, 0.05]])
    grid = confidences_to_grid(conf)[0]
    assert grid[2] < 0.5 / 3  # half the samples in the first sixth


def test_grid_unpool_after_uniform_pool_is_linear_upsampling():
    torch.manual_seed(2)
    values = torch.randn(2, 3, 5, dtype=torch.float64)
    grid = torch.linspace(0, 1, 5, dtype=torch.float64).expand(2, -1)
    out = GridUnpool()(values, grid, 17)
    q = np.linspace(0, 1, 17)
    for b in range(2):
        for c in range(3):
            ref = np.interp(q * 4, np.arange(5), values[b, c].numpy())
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-12)


def test_grid_unpool_inverts_a_learned_grid():
    # values known at (g_k, y_k): output at uniform q is the piecewise-linear
    # curve through them, i.e. np.interp(q, g, y)
    torch.manual_seed(3)
    grid = confidences_to_grid(torch.rand(3, 5, dtype=torch.float64))
    values = torch.randn(3, 2, 6, dtype=torch.float64)
    out = grid_unpool(values, grid, 23)
    q = np.linspace(0, 1, 23)
    for b in range(3):
        for c in range(2):
            ref = np.interp(q, grid[b].numpy(), values[b, c].numpy())
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-9)


def test_public_unpool_inverts_at_k_plus_1_points_then_upsamples():
    # the public code: the inverse grid read at j / K, then linear
    # upsampling from those K + 1 values to the output frames
    torch.manual_seed(6)
    grid = confidences_to_grid(torch.rand(2, 4, dtype=torch.float64))
    values = torch.randn(2, 3, 5, dtype=torch.float64)
    out = GridUnpool('public')(values, grid, 16)
    q = np.linspace(0, 1, 16)
    for b in range(2):
        for c in range(3):
            at_points = np.interp(np.arange(5) / 4, grid[b].numpy(),
                                  values[b, c].numpy())
            ref = np.interp(q, np.arange(5) / 4, at_points)
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-9)
    exact = GridUnpool()(values, grid, 16)
    assert (exact - out).abs().max() > 1e-2  # not the same on this grid


def test_gradient_wrt_confidences_finite_and_nonzero():
    torch.manual_seed(4)
    x = torch.randn(2, 3, 16, 2, 2)
    conf = torch.rand(2, 4).requires_grad_()
    weights = torch.randn(2, 3, 5, 2, 2)
    (sample_frames(x, confidences_to_grid(conf)) * weights).sum().backward()
    assert torch.isfinite(conf.grad).all() and conf.grad.abs().sum() > 0
    # through the module's confidence network too
    pool = GridPool(3, 4)
    nn_weight = pool.confidence_net[-1].weight
    (pool(x)[0] * weights).sum().backward()
    assert torch.isfinite(nn_weight.grad).all()
    assert nn_weight.grad.abs().sum() > 0


def test_gradcheck_float64():
    torch.manual_seed(5)
    x = torch.randn(1, 2, 9, 2, 1, dtype=torch.float64, requires_grad=True)
    conf = (0.1 + 0.8 * torch.rand(1, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, c: sample_frames(x, confidences_to_grid(c)), (x, conf))
    values = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda v, c: grid_unpool(v, confidences_to_grid(c), 7), (values, conf))


def test_k_follows_the_clip_length_by_ratio_unless_fixed():
    # K = ceil(T / ratio): a longer clip at the same frame rate keeps the
    # coarse rate (public code: ratio 4); num_samples fixes K instead
    x16, x18 = torch.randn(1, 3, 16, 4, 4), torch.randn(1, 3, 18, 4, 4)
    for uniform in (True, False):
        pool = GridPool(3, ratio=4, uniform=uniform).eval()
        assert pool(x16)[1].shape == (1, 5) and pool(x18)[1].shape == (1, 6)
        fixed = GridPool(3, num_samples=4, uniform=uniform).eval()
        assert fixed(x18)[1].shape == (1, 5)
    assert GridPool(3, ratio=8, uniform=True)(x16)[1].shape == (1, 3)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match='B, C, T, H, W'):
        GridPool(3, 4)(torch.randn(2, 3, 13, 4))
    with pytest.raises(ValueError, match='grid_unpool'):
        grid_unpool(torch.randn(2, 3, 5), torch.rand(2, 4), 9)
    with pytest.raises(ValueError, match="'exact', 'public'.*'nearest'"):
        GridUnpool('nearest')
