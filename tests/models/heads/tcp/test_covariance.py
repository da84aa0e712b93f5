"""TCP's second-order pooling against independent references: torch.cov,
and the Newton-Schulz recursion run on the eigenvalues."""
import pytest
import torch

from mmdtf.models.heads.tcp import covariance_pool, isqrt, upper_triangle
from mmdtf.models.heads.tcp.covariance import TRACE_EPS


def test_covariance_is_torch_cov_without_correction():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 17, dtype=torch.float64) * 3 + 1
    expected = torch.stack([torch.cov(x[b], correction=0) for b in range(3)])
    torch.testing.assert_close(covariance_pool(x), expected)


def newton_schulz_on_eigenvalues(cov, num_iterations, eps=TRACE_EPS):
    """``U diag(f_N(lambda)) U^T``, ``f_N`` the scalar Newton-Schulz
    recursion: every Y_k, Z_k is a polynomial in A, so they commute with it
    and the matrix iteration acts on each eigenvalue alone."""
    out = []
    for matrix in cov:
        trace = float(sum(matrix[i, i] for i in range(matrix.shape[0])))
        lam, u = torch.linalg.eigh(matrix)
        values = []
        for ev in lam.tolist():
            y, z = ev / (trace + eps), 1.0
            for _ in range(num_iterations):
                p = 0.5 * (3.0 - z * y)
                y, z = y * p, p * z
            values.append(y * trace**0.5)
        out.append(u @ torch.diag(torch.tensor(values, dtype=u.dtype)) @ u.T)
    return torch.stack(out)


def random_cov(batch=2, dim=16, positions=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, dim, positions, dtype=torch.float64, generator=gen)
    x = x * torch.linspace(0.2, 3, dim, dtype=torch.float64)[:, None]
    return torch.stack([torch.cov(s, correction=0) for s in x])


@pytest.mark.parametrize('num_iterations', [1, 2, 3, 5, 8])
def test_isqrt_is_the_recursion_on_eigenvalues(num_iterations):
    cov = random_cov()
    torch.testing.assert_close(isqrt(cov, num_iterations),
                               newton_schulz_on_eigenvalues(cov,
                                                            num_iterations))


def test_isqrt_converges_to_the_square_root_not_at_three():
    cov = random_cov()
    sq30 = isqrt(cov, 30, eps=0)
    torch.testing.assert_close(sq30 @ sq30, cov, rtol=1e-6, atol=1e-8)
    # three iterations (TCPNet's) are a normalisation, far from the root
    sq3 = isqrt(cov, 3)
    error = (sq3 @ sq3 - cov).norm() / cov.norm()
    assert error > 0.1


def test_isqrt_of_a_zero_covariance_is_zero():
    """A clip whose features are all equal (all zero after the ReLU): the
    trace plus eps keeps it at zero, where 0 / 0 would be NaN."""
    cov = torch.zeros(1, 4, 4, dtype=torch.float64)
    assert isqrt(cov, 3).eq(0).all()
    assert isqrt(cov, 3, eps=0).isnan().all()


@pytest.mark.parametrize('num_iterations', [1, 3])
def test_isqrt_divides_by_the_trace_plus_eps(num_iterations):
    """TCPNet's Sqrtm: the pre-normalisation by tr + eps, the
    post-compensation by sqrt(tr); against the eigenvalue recursion with and
    without eps at a trace where eps is visible."""
    cov = random_cov()
    trace = cov.diagonal(dim1=1, dim2=2).sum(1)
    cov = cov * (10 * TRACE_EPS / trace)[:, None, None]  # eps: 10% of it
    torch.testing.assert_close(
        isqrt(cov, num_iterations),
        newton_schulz_on_eigenvalues(cov, num_iterations, eps=TRACE_EPS))
    assert not torch.allclose(
        isqrt(cov, num_iterations),
        newton_schulz_on_eigenvalues(cov, num_iterations, eps=0),
        rtol=1e-3, atol=0)


def test_isqrt_rejects_zero_iterations():
    with pytest.raises(ValueError, match='num_iterations'):
        isqrt(random_cov(), 0)


def test_upper_triangle_row_major():
    x = torch.arange(2 * 4 * 4.).view(2, 4, 4)
    expected = torch.tensor([[x[b, i, j] for i in range(4)
                              for j in range(i, 4)] for b in range(2)])
    torch.testing.assert_close(upper_triangle(x), expected)
    assert upper_triangle(torch.zeros(1, 128, 128)).shape == (1, 8256)
