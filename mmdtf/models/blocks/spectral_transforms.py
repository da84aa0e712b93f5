"""Orthonormal real DFTs over the time axis of (N, C, T, H, W) features.

Two implementations (``spectral_impl``): ``'matmul'`` (the default:
:func:`rdft_time` / :func:`irdft_time`), the DFT as a product with cached
cos/sin matrices: exact, cheap for the small ``T`` of DTF blocks, and made
of ``MatMul`` only, so it exports to ONNX (which ``torch.fft`` does not); and
``'fft'`` (:func:`rfft_time` / :func:`irfft_time`, ``torch.fft``), slower in
every measurement so far.

Spectra are carried as (real, imag) pairs of real tensors so that everything
after the transform is ordinary real arithmetic. Memory layout: ResNetDTF's
features are stored frames outermost (its frames are a batch of images), so
the (N, C, T, H, W) tensors a block sees are views of (N, T, C, H, W) memory.
The transforms keep that order for spectra (bins outermost), so the spectral
path runs without a transposing copy.
"""
import math
from typing import Dict, Tuple

import torch

Spectrum = Tuple[torch.Tensor, torch.Tensor]
SPECTRAL_IMPLS = ('fft', 'matmul')


def rfft_time(y: torch.Tensor) -> Spectrum:
    """Orthonormal real FFT over time (dim 2): ``M = T // 2 + 1`` bins."""
    if y.dtype in (torch.float16, torch.bfloat16):
        y = y.float()  # half FFTs need power-of-two lengths on CUDA
    spec = torch.fft.rfft(y, dim=2, norm='ortho')
    # One copy splits the interleaved parts and stores them bins outermost,
    # as the matmul transforms do (see _matmul_time): the channel mixing
    # then runs without copies.
    parts = torch.view_as_real(spec).permute(5, 0, 2, 1, 3, 4).contiguous()
    return parts[0].transpose(1, 2), parts[1].transpose(1, 2)


def irfft_time(spec: Spectrum, num_frames: int, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of :func:`rfft_time`, back to ``num_frames`` frames."""
    real, imag = spec
    # stack writes one standard-layout complex tensor: irfft is several
    # times slower on the bins-outermost layout the mixing leaves.
    spec = torch.view_as_complex(torch.stack([real, imag], dim=-1))
    out = torch.fft.irfft(spec, n=num_frames, dim=2, norm='ortho')
    return out.to(dtype)


_DFT_CACHE: Dict[Tuple[int, bool, torch.dtype, torch.device],
                 Tuple[torch.Tensor, torch.Tensor]] = {}


def _unit_circle(k: int, n: int) -> Tuple[float, float]:
    """``cos`` and ``sin`` of ``2 pi k / n``, exact at quarter turns."""
    if (4 * k) % n == 0:
        return ((1., 0.), (0., 1.), (-1., 0.), (0., -1.))[4 * k // n]
    angle = 2 * math.pi * k / n
    return math.cos(angle), math.sin(angle)


def dft_matrices(num_frames: int, inverse: bool, dtype: torch.dtype,
                 device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The orthonormal real DFT over ``T = num_frames`` as two real matrices,
    cached per length, direction, dtype and device.

    Forward (``inverse=False``), both ``(M, T)`` with ``M = T // 2 + 1``::

        S_real[m] = sum_t cos(2 pi m t / T) / sqrt(T) * y[t]
        S_imag[m] = sum_t -sin(2 pi m t / T) / sqrt(T) * y[t]

    Inverse (``inverse=True``), both ``(T, M)``: ``irfft(S, n=T)`` sums the
    Hermitian spectrum, so bin ``m`` weighs ``w_m = 2`` except the DC bin and,
    for even ``T``, the Nyquist bin (``w_m = 1``), whose imaginary parts are
    ignored::

        y[t] = sum_m w_m / sqrt(T) * (cos(2 pi m t / T) * S_real[m]
                                      - sin(2 pi m t / T) * S_imag[m])
    """
    key = (num_frames, inverse, dtype, device)
    # torch.compile builds the matrices into its graph as constants; a
    # lookup would make it guard on the cache and recompile when the cache
    # changes (docs/user_guides/compile.md)
    compiling = torch.compiler.is_compiling()
    if not compiling and key in _DFT_CACHE:
        return _DFT_CACHE[key]
    # Plain Python floats: nothing here is traced (FLOP counting, ONNX
    # export) when the first call happens under a tracer.
    t_len, bins = num_frames, num_frames // 2 + 1
    scale = 1 / math.sqrt(t_len)
    turns = [[_unit_circle(m * t % t_len, t_len) for t in range(t_len)]
             for m in range(bins)]
    cos = [[c * scale for c, _ in row] for row in turns]
    sin = [[s * scale for _, s in row] for row in turns]
    if inverse:
        # Real parts weigh w_m; imaginary parts of DC and Nyquist drop.
        weight = [1. if m == 0 or 2 * m == t_len else 2. for m in range(bins)]
        real = [[weight[m] * cos[m][t] for m in range(bins)]
                for t in range(t_len)]
        imag = [[0. if weight[m] == 1. else -2. * sin[m][t]
                 for m in range(bins)] for t in range(t_len)]
    else:
        real, imag = cos, [[-v for v in row] for row in sin]
    mats = tuple(
        torch.tensor(mat, dtype=torch.float64).to(dtype=dtype, device=device)
        for mat in (real, imag))
    # Under torch.compile / torch.export the tensors are fakes of that
    # trace: use them, do not keep them.
    if not compiling and all(type(mat) is torch.Tensor for mat in mats):
        _DFT_CACHE[key] = mats
    return mats


def _matmul_time(mat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``mat`` (K, L) applied along dim 2 (of size L) of (N, C, L, H, W).

    The product runs with time outermost, ``(K, L) @ (N, L, C*H*W)``: one
    GEMM per clip. ResNetDTF's features are stored that way (its frames are
    a batch of images), so ``x`` needs no copy there, and the result is
    stored as (N, K, C, H, W) too: a (N, C, K, H, W) view of it is returned,
    which the spectral filters' next steps read without copying.
    """
    n, c, _, h, w = x.shape
    # In the operands' dtype (float32 for half inputs, as torch.fft), not
    # in autocast's: the transforms stay as exact as the FFT under AMP.
    with torch.autocast(x.device.type, enabled=False):
        out = torch.matmul(mat, x.transpose(1, 2).flatten(2))
    return out.view(n, mat.shape[0], c, h, w).transpose(1, 2)


def rdft_time(y: torch.Tensor) -> Spectrum:
    """:func:`rfft_time` as a product with DFT matrices (ONNX-exportable)."""
    if y.dtype in (torch.float16, torch.bfloat16):
        y = y.float()  # as rfft_time: the spectrum is float32
    real, imag = dft_matrices(y.shape[2], False, y.dtype, y.device)
    # One product for both parts: the feature is read once.
    spec = _matmul_time(torch.cat([real, imag]), y)
    return spec.split(real.shape[0], dim=2)


def irdft_time(spec: Spectrum, num_frames: int,
               dtype: torch.dtype) -> torch.Tensor:
    """:func:`irfft_time` as a product with DFT matrices (ONNX-exportable)."""
    real, imag = spec
    if real.shape[2] != num_frames // 2 + 1:
        raise ValueError(
            f'irdft_time: a spectrum of {real.shape[2]} bins cannot come from '
            f'{num_frames} frames (expected {num_frames // 2 + 1} bins).')
    inv_real, inv_imag = dft_matrices(num_frames, True, real.dtype,
                                      real.device)
    out = _matmul_time(inv_real, real)
    # in place: a matmul's output is not saved for its backward
    out.add_(_matmul_time(inv_imag, imag))
    return out.to(dtype)


SPECTRAL_TRANSFORMS = {
    'fft': (rfft_time, irfft_time),
    'matmul': (rdft_time, irdft_time),
}


def check_spectral_impl(spectral_impl: str) -> None:
    if spectral_impl not in SPECTRAL_IMPLS:
        raise ValueError(
            f'spectral_impl must be one of {SPECTRAL_IMPLS}, got '
            f'{spectral_impl!r} (config key `dtf_cfg.spectral_impl`).')
