"""Second-order pooling of TCP: biased covariance, iSQRT, upper triangle.

iSQRT-COV (Li et al., CVPR 2018), as in TCPNet's ``MPNCOV``: the covariance
of the ``D``-dim features over all ``M = T*H*W`` positions of a clip, its
matrix square root by ``N`` coupled Newton-Schulz iterations between a trace
pre-normalisation and a trace post-compensation, and the ``D(D+1)/2`` upper
triangle of the (symmetric) result. Written with autograd; the public code's
hand-written backward is the same derivative.
"""
import torch
from torch import Tensor


def covariance_pool(x: Tensor) -> Tensor:
    """Biased covariance of ``x`` (B, D, M) over its M positions: (B, D, D).

    ``1/M * sum_m (x_m - mean)(x_m - mean)^T``: what ``torch.cov(x_b,
    correction=0)`` gives per sample.
    """
    if x.dim() != 3:
        raise ValueError(f'covariance_pool expects (B, D, M) features, got '
                         f'shape {tuple(x.shape)}')
    centred = x - x.mean(dim=2, keepdim=True)
    return centred.bmm(centred.transpose(1, 2)) / x.shape[2]


def isqrt(cov: Tensor, num_iterations: int = 3) -> Tensor:
    """Approximate square root of SPD matrices (B, D, D) by Newton-Schulz.

    ``A = cov / tr(cov)`` (eigenvalues in (0, 1]: the iteration converges);
    ``Y_0 = A, Z_0 = I``; ``P_k = (3I - Z_k Y_k) / 2``, ``Y_{k+1} = Y_k P_k``,
    ``Z_{k+1} = P_k Z_k`` (``Y -> A^{1/2}``, ``Z -> A^{-1/2}``); the result
    is ``Y_N * sqrt(tr(cov))``. At a few iterations (TCPNet uses 3) it is a
    smooth spectral normalisation, not yet the square root. Call it in
    float32 or float64: see ``TCPHead``.
    """
    if num_iterations < 1:
        raise ValueError(f'num_iterations must be >= 1, got {num_iterations}')
    batch, dim, _ = cov.shape
    trace = cov.diagonal(dim1=1, dim2=2).sum(dim=1).view(batch, 1, 1)
    a = cov / trace
    eye3 = 3 * torch.eye(dim, dtype=cov.dtype, device=cov.device)
    y, z = a, None  # z = I at the start: Z_0 Y_0 = A
    for k in range(num_iterations):
        p = 0.5 * (eye3 - (y if z is None else z.bmm(y)))
        if k < num_iterations - 1:  # the last step needs no Z
            z = p if z is None else p.bmm(z)
        y = y.bmm(p)
    return y * trace.sqrt()


def upper_triangle(x: Tensor) -> Tensor:
    """Row-major upper triangle (diagonal included) of (B, D, D): (B, D(D+1)/2).
    """
    dim = x.shape[-1]
    rows, cols = torch.triu_indices(dim, dim, device=x.device)
    return x[:, rows, cols]


class CovariancePool(torch.nn.Module):
    """:func:`covariance_pool` as a module (FLOP counters find it by it)."""

    def forward(self, x: Tensor) -> Tensor:
        return covariance_pool(x)


class NewtonSchulzSqrt(torch.nn.Module):
    """:func:`isqrt` with ``num_iterations`` as a module."""

    def __init__(self, num_iterations: int = 3) -> None:
        super().__init__()
        if num_iterations < 1:
            raise ValueError(
                f'num_iterations must be >= 1, got {num_iterations} '
                '(model.cls_head.num_iterations)')
        self.num_iterations = num_iterations

    def forward(self, cov: Tensor) -> Tensor:
        return isqrt(cov, self.num_iterations)

    def extra_repr(self) -> str:
        return f'num_iterations={self.num_iterations}'
