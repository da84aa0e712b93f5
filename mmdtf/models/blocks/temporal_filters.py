"""The temporal filters a DTF block can apply (spec section 2 and table 1).

Each filter maps ``y`` (N, C, T, H, W), optionally with the FA correlation
``corr`` (N, k*k, T, H, W), to the filtered feature ``f'`` of the shape of ``y``.

- :class:`DynamicSpectralFilter`: DTF. A 1x1 convolution estimates, at every
  location, a complex filter per group of channels from the whole temporal
  feature; the spectrum of ``y`` is multiplied by it.
- :class:`StaticSpectralFilter`: ``DTF_F``, one learned filter per channel,
  the same everywhere.

Spectra are carried as (real, imag) pairs of real tensors so that everything
after the FFT is ordinary real arithmetic (batch norm, convolutions).

The transforms over time have two implementations (``spectral_impl``):
``'matmul'`` (the default: :func:`rdft_time` / :func:`irdft_time`), the
orthonormal real DFT as a product with cached cos/sin matrices: exact, cheap
for the small ``T`` of DTF blocks, and made of ``MatMul`` only, so it exports
to ONNX (which ``torch.fft`` does not); and ``'fft'`` (:func:`rfft_time` /
:func:`irfft_time`, ``torch.fft``), slower in every measurement so far.

Memory layout: ResNetDTF's features are stored frames outermost (its frames
are a batch of images), so the (N, C, T, H, W) tensors a block sees are views
of (N, T, C, H, W) memory. The transforms keep that order for spectra (bins
outermost) and the channel mixing multiplies each (clip, bin) slice in place,
so the spectral path runs without a transposing copy.
"""
import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn

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
    if key in _DFT_CACHE:
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
    if all(type(mat) is torch.Tensor for mat in mats):
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


def set_spectral_impl(model: nn.Module, spectral_impl: str) -> int:
    """Switch every spectral filter (and DTF block) inside ``model`` to
    ``spectral_impl``; returns how many filters were switched."""
    check_spectral_impl(spectral_impl)
    switched = 0
    for module in model.modules():
        if hasattr(module, 'spectral_impl'):
            module.spectral_impl = spectral_impl
            switched += isinstance(module, (DynamicSpectralFilter,
                                            StaticSpectralFilter))
    return switched


def batched_matmul(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``weight`` (K, L) times each (L, P) matrix in ``x`` (..., L, P)."""
    if torch.onnx.is_in_onnx_export():
        # ONNX's MatMul broadcasts; an Expand would hide the output shape
        # (which the mixing's BatchNorm, in training-mode graphs, needs).
        return torch.matmul(weight, x)
    # With a 2-D weight that requires grad, matmul folds x into one matrix:
    # it transposes x into a copy and the result back into another, (L + K)
    # * P elements per matrix, for a single (K, L) weight gradient. An
    # expanded weight runs one bmm without copies, but its gradient is a
    # (batch, K, L) tensor summed afterwards. Take the cheaper.
    k, length = weight.shape
    if (weight.requires_grad and torch.is_grad_enabled()
            and x.shape[-1] * (k + length) < k * length):
        return torch.matmul(weight, x)
    return torch.matmul(weight.expand(*x.shape[:-2], k, length), x)


def complex_mul(a: Spectrum, b: Spectrum) -> Spectrum:
    """Element-wise product of two (real, imag) pairs (broadcasting); the
    result has the shape and memory layout of ``a`` broadcast with ``b``."""
    # Two passes per part instead of three; in place is safe for autograd,
    # which keeps the factors of a product, not the product.
    real = (a[0] * b[0]).addcmul_(a[1], b[1], value=-1)
    imag = (a[0] * b[1]).addcmul_(a[1], b[0])
    return real, imag


class SpectralChannelMixing(nn.Module):
    """Complex C x C channel mixing followed by a non-affine batch norm over the
    real and imaginary parts (the reference's extra step, spec section 2.4).

    The inverse real DFT that follows ignores the imaginary parts of the DC
    bin and, for even ``T``, of the Nyquist bin. When the caller passes
    ``num_frames`` and the norm uses its running statistics (eval mode), the
    mixing therefore does not compute those parts and returns zeros there:
    the same filtered feature for a third less work at ``T = 4``. In training
    the batch statistics need every part, so everything is computed.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        # [[A, -B], [B, A]] acting on [real; imag] is the complex matrix A + iB.
        self.weight_real = nn.Parameter(torch.empty(channels, channels))
        self.weight_imag = nn.Parameter(torch.empty(channels, channels))
        self.norm = nn.BatchNorm3d(2 * channels, affine=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Start near the identity: the mixing then passes the modulated
        # spectrum through, and learns cross-channel terms from there.
        nn.init.eye_(self.weight_real)
        nn.init.zeros_(self.weight_imag)

    def forward(self, spec: Spectrum,
                num_frames: Optional[int] = None) -> Spectrum:
        """Mix and normalise ``spec``, a pair of (N, C, M, H, W) tensors.

        Args:
            spec: the (real, imag) spectrum.
            num_frames: ``T``, given when the result goes to the inverse real
                DFT next: in eval mode the parts that transform ignores are
                then returned as zeros instead of being computed.
        """
        norm = self.norm
        if (num_frames is not None and not norm.training
                and norm.running_var is not None):
            return self._mix_read_parts(spec, num_frames)
        a, b = self.weight_real, self.weight_imag
        weight = torch.cat([torch.cat([a, -b], 1), torch.cat([b, a], 1)], 0)
        real, imag = spec
        n, _, bins, h, w = real.shape
        # Bins outermost, as the time transforms store spectra: a batched
        # matmul of (2C, 2C) by each (clip, bin)'s (2C, H*W) [real; imag].
        # (A 1x1x1 Conv3d computes the same but takes a slow path on CPU.)
        stacked = torch.cat([real.transpose(1, 2), imag.transpose(1, 2)],
                            dim=2).flatten(3)
        mixed = batched_matmul(weight.to(stacked.dtype), stacked)
        # The norm sees (N*M, 2C, H*W, 1, 1): per channel, the same elements
        # as (N, 2C, M, H, W). The channel count is a Python int so that
        # exported graphs keep it static (ONNX's BatchNorm needs it). The
        # norm runs in its buffers' dtype (a model cast to bfloat16 keeps
        # bfloat16 statistics); the spectrum itself stays in float32.
        stats_dtype = norm.running_mean.dtype
        flat = mixed.view(-1, 2 * self.channels, mixed.shape[-1], 1, 1)
        flat = flat.to(stats_dtype)
        mixed = norm(flat).to(stacked.dtype).view(n, bins, -1, h, w)
        out_real, out_imag = mixed.chunk(2, dim=2)
        return out_real.transpose(1, 2), out_imag.transpose(1, 2)

    def _mix_read_parts(self, spec: Spectrum, num_frames: int) -> Spectrum:
        """Eval mode: every real part (``A x - B y``) but only the imaginary
        parts (``B x + A y``) of the bins strictly between DC and Nyquist,
        each normalised with its half of the running statistics."""
        # (N, M, C, H, W): bins outermost, as the time transforms store them
        real, imag = spec[0].transpose(1, 2), spec[1].transpose(1, 2)
        n, _, c, h, w = real.shape
        # From num_frames, a Python int: no traced size arithmetic.
        nyquist = num_frames % 2 == 0
        inner = slice(1, num_frames // 2 + 1 - nyquist)
        a = self.weight_real.to(real.dtype)
        b = self.weight_imag.to(real.dtype)

        def mix(w1: torch.Tensor, x1: torch.Tensor, w2: torch.Tensor,
                x2: torch.Tensor, sign: int) -> torch.Tensor:
            """``w1 @ x1 + sign * w2 @ x2``, batched over (clip, bin)."""
            out = batched_matmul(w1, x1.flatten(3))
            return out.add_(batched_matmul(w2, x2.flatten(3)), alpha=sign)

        # The eval batch norm is the affine map (x - mean) / std: one
        # multiply-add per element that keeps the bins-outermost layout and
        # exports without the reshape ONNX's BatchNormalization would need.
        norm = self.norm
        scale = torch.rsqrt(norm.running_var + norm.eps)
        shift = -norm.running_mean * scale
        scale = scale.to(real.dtype).view(2, self.channels, 1)
        shift = shift.to(real.dtype).view(2, self.channels, 1)

        def normalise(x: torch.Tensor, part: int) -> torch.Tensor:
            """(N, M', C, H*W) -> normalised (N, M', C, H, W)."""
            out = torch.addcmul(shift[part], x, scale[part])
            return out.view(x.shape[0], -1, c, h, w)

        out_real = normalise(mix(a, real, b, imag, -1), 0)
        out_imag = normalise(
            mix(b, real[:, inner], a, imag[:, inner], 1), 1)
        # Zeros at DC (and Nyquist): the inverse transform does not read them.
        # (cat writes each element once; F.pad fills the whole, then copies.)
        zeros = out_imag.new_zeros(n, 1, c, h, w)
        out_imag = torch.cat([zeros, out_imag] + [zeros] * nyquist, dim=1)
        return out_real.transpose(1, 2), out_imag.transpose(1, 2)


class DynamicSpectralFilter(nn.Module):
    """DTF's filter: per-location complex filters estimated from the clip.

    Args:
        channels: ``C``.
        num_frames: ``T``, fixed because the estimator sees all frames.
        group_factor: ``G``; each of the ``C / G`` filters is shared by ``G``
            consecutive channels.
        corr_channels: channels of the correlation feature (``k*k``), 0 when
            the correlation is not used.
        channel_mixing: apply :class:`SpectralChannelMixing` after modulation.
        spectral_impl: ``'matmul'`` (the DFT as a matrix product, faster
            and ONNX-exportable) or ``'fft'``; the attribute may be changed
            later.
    """

    def __init__(self, channels: int, num_frames: int, group_factor: int,
                 corr_channels: int, channel_mixing: bool,
                 spectral_impl: str = 'matmul') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        self.spectral_impl = spectral_impl
        self.groups = channels // group_factor
        self.group_factor = group_factor
        self.num_frames = num_frames
        self.num_bins = num_frames // 2 + 1
        in_channels = (channels + corr_channels) * num_frames
        self.estimator = nn.Conv2d(in_channels,
                                   2 * self.num_bins * self.groups, 1)
        self.mixing = (SpectralChannelMixing(channels)
                       if channel_mixing else None)

    def estimate(self, y: torch.Tensor,
                 corr: Optional[torch.Tensor]) -> Spectrum:
        """The filter ``S_i``: a pair of (N, C/G, 1, M, H, W) tensors."""
        z = y if corr is None else torch.cat([y, corr.to(y.dtype)], dim=1)
        n, _, _, h, w = z.shape
        filt = self.estimator(z.reshape(n, -1, h, w))
        filt = filt.view(n, 2, self.groups, 1, self.num_bins, h, w)
        return filt[:, 0], filt[:, 1]

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        n, c, t, h, w = y.shape
        forward_transform, inverse_transform = SPECTRAL_TRANSFORMS[
            self.spectral_impl]
        real, imag = forward_transform(y)
        # View channels as (C/G, G): the group filter broadcasts over G.
        grouped = (real.view(n, self.groups, self.group_factor, -1, h, w),
                   imag.view(n, self.groups, self.group_factor, -1, h, w))
        filt = self.estimate(y, corr)
        filt = (filt[0].to(real.dtype), filt[1].to(real.dtype))
        real, imag = complex_mul(grouped, filt)
        spec = (real.view(n, c, -1, h, w), imag.view(n, c, -1, h, w))
        if self.mixing is not None:
            # the built T, a Python int even when traced (export, FLOPs)
            spec = self.mixing(spec, self.num_frames)
        return inverse_transform(spec, t, y.dtype)


class StaticSpectralFilter(nn.Module):
    """``DTF_F``: a learned frequency filter per channel, location-invariant."""

    def __init__(self, channels: int, num_frames: int,
                 channel_mixing: bool,
                 spectral_impl: str = 'matmul') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        self.spectral_impl = spectral_impl
        self.num_frames = num_frames
        bins = num_frames // 2 + 1
        # All-pass start: the modulation initially passes the spectrum
        # through (the channel mixing's norm, when on, still normalises it).
        self.filter_real = nn.Parameter(torch.ones(channels, bins, 1, 1))
        self.filter_imag = nn.Parameter(torch.zeros(channels, bins, 1, 1))
        self.mixing = (SpectralChannelMixing(channels)
                       if channel_mixing else None)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        forward_transform, inverse_transform = SPECTRAL_TRANSFORMS[
            self.spectral_impl]
        spec = forward_transform(y)
        filt = (self.filter_real.to(spec[0].dtype),
                self.filter_imag.to(spec[0].dtype))
        spec = complex_mul(spec, filt)
        if self.mixing is not None:
            spec = self.mixing(spec, self.num_frames)
        return inverse_transform(spec, y.shape[2], y.dtype)
