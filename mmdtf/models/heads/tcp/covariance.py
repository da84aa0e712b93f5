"""Second-order pooling of TCP: biased covariance, iSQRT, upper triangle.

iSQRT-COV (Li et al., CVPR 2018), as in TCPNet's ``MPNCOV``: the covariance
of the ``D``-dim features over all ``M = T*H*W`` positions of a clip, its
matrix square root by ``N`` coupled Newton-Schulz iterations between a trace
pre-normalisation (by the trace plus ``eps``) and a trace post-compensation,
and the ``D(D+1)/2`` upper triangle of the (symmetric) result, row by row.
Written with autograd: the exact derivative of this forward (the public
code's hand-written backward leaves ``eps`` out; docs/models/tcp.md).
"""
import torch
from torch import Tensor

#: added to the trace before the pre-normalisation, as TCPNet's ``Sqrtm``
TRACE_EPS = 1e-5


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


def isqrt(cov: Tensor, num_iterations: int = 3,
          eps: float = TRACE_EPS) -> Tensor:
    """Approximate square root of SPD matrices (B, D, D) by Newton-Schulz.

    ``A = cov / (tr(cov) + eps)`` (eigenvalues in (0, 1]: the iteration
    converges; ``eps`` keeps a clip whose features are all equal, e.g. all
    zero after the ReLU, at zero instead of 0/0); ``Y_0 = A, Z_0 = I``;
    ``P_k = (3I - Z_k Y_k) / 2``, ``Y_{k+1} = Y_k P_k``, ``Z_{k+1} = P_k
    Z_k`` (``Y -> A^{1/2}``, ``Z -> A^{-1/2}``); the result is ``Y_N *
    sqrt(tr(cov))``, the post-compensation without ``eps``, as TCPNet's
    ``Sqrtm``. At a few iterations (TCPNet uses 3) it is a smooth spectral
    normalisation, not yet the square root. Call it in float32 or float64:
    see ``TCPHead``.
    """
    if num_iterations < 1:
        raise ValueError(f'num_iterations must be >= 1, got {num_iterations}')
    batch, dim, _ = cov.shape
    trace = cov.diagonal(dim1=1, dim2=2).sum(dim=1).view(batch, 1, 1)
    a = cov / (trace + eps)
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

    def __init__(self, num_iterations: int = 3,
                 eps: float = TRACE_EPS) -> None:
        super().__init__()
        if num_iterations < 1:
            raise ValueError(
                f'num_iterations must be >= 1, got {num_iterations} '
                '(model.cls_head.num_iterations)')
        self.num_iterations = num_iterations
        self.eps = eps

    def forward(self, cov: Tensor) -> Tensor:
        return isqrt(cov, self.num_iterations, self.eps)

    def extra_repr(self) -> str:
        return f'num_iterations={self.num_iterations}, eps={self.eps}'
