"""The temporal filters a DTF block can apply (spec section 2 and table 1).

Each filter maps ``y`` (N, C, T, H, W), optionally with the FA correlation
``corr`` (N, k*k, T, H, W), to the filtered feature ``f'`` of the shape of ``y``.

- :class:`DynamicSpectralFilter`: DTF. A 1x1 convolution estimates, at every
  location, a complex filter per group of channels from the whole temporal
  feature; the spectrum of ``y`` is multiplied by it.
- :class:`StaticSpectralFilter`: ``DTF_F``, one learned filter per channel,
  the same everywhere.
- :class:`TemporalConvFilter`: ``DTF_1d``, a channel-wise temporal convolution.

Spectra are carried as (real, imag) pairs of real tensors so that everything
after the FFT is ordinary real arithmetic (batch norm, convolutions).

The transforms over time have two implementations (``spectral_impl``):
``'fft'`` (:func:`rfft_time` / :func:`irfft_time`, ``torch.fft``) and
``'matmul'`` (:func:`rdft_time` / :func:`irdft_time`), the same orthonormal
real DFT as a product with cached cos/sin matrices: exact, cheap for the
small ``T`` of DTF blocks, and made of ``MatMul`` only, so it exports to ONNX
(which ``torch.fft`` does not).
"""
import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

Spectrum = Tuple[torch.Tensor, torch.Tensor]
SPECTRAL_IMPLS = ('fft', 'matmul')


def rfft_time(y: torch.Tensor) -> Spectrum:
    """Orthonormal real FFT over time (dim 2): ``M = T // 2 + 1`` bins."""
    if y.dtype in (torch.float16, torch.bfloat16):
        y = y.float()  # half FFTs need power-of-two lengths on CUDA
    spec = torch.fft.rfft(y, dim=2, norm='ortho')
    return spec.real, spec.imag


def irfft_time(spec: Spectrum, num_frames: int, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of :func:`rfft_time`, back to ``num_frames`` frames."""
    real, imag = spec
    out = torch.fft.irfft(torch.complex(real, imag), n=num_frames, dim=2,
                          norm='ortho')
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
    """``mat`` (K, L) applied along dim 2 (of size L) of (N, C, L, H, W)."""
    n, c, _, h, w = x.shape
    # contiguous(): a strided last dim (e.g. the real part of a complex
    # tensor) sends matmul down a path that is ten times slower.
    out = torch.matmul(mat, x.flatten(3).contiguous())
    return out.view(n, c, mat.shape[0], h, w)


def rdft_time(y: torch.Tensor) -> Spectrum:
    """:func:`rfft_time` as a product with DFT matrices (ONNX-exportable)."""
    if y.dtype in (torch.float16, torch.bfloat16):
        y = y.float()  # as rfft_time: the spectrum is float32
    real, imag = dft_matrices(y.shape[2], False, y.dtype, y.device)
    return _matmul_time(real, y), _matmul_time(imag, y)


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
    out = _matmul_time(inv_real, real) + _matmul_time(inv_imag, imag)
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


def complex_mul(a: Spectrum, b: Spectrum) -> Spectrum:
    """Element-wise product of two (real, imag) pairs (broadcasting)."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


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
        stacked = torch.cat(spec, dim=1)
        # A batched matmul over the flattened (M, H, W) positions: a 1x1x1
        # Conv3d computes the same but takes a slow path on CPU.
        mixed = torch.matmul(weight.to(stacked.dtype), stacked.flatten(2))
        # The channel count is a Python int so that exported graphs keep it
        # static (ONNX's BatchNorm needs a known channel size).
        mixed = mixed.view(stacked.shape[0], 2 * self.channels,
                           *stacked.shape[2:])
        # The norm runs in its buffers' dtype (a model cast to bfloat16 keeps
        # bfloat16 statistics); the spectrum itself stays in float32.
        stats_dtype = norm.running_mean.dtype
        mixed = norm(mixed.to(stats_dtype)).to(stacked.dtype)
        return mixed.chunk(2, dim=1)

    def _mix_read_parts(self, spec: Spectrum, num_frames: int) -> Spectrum:
        """Eval mode: every real part (``A x - B y``) but only the imaginary
        parts (``B x + A y``) of the bins strictly between DC and Nyquist,
        each normalised with its half of the running statistics."""
        real, imag = spec
        n, c, bins, h, w = real.shape
        inner = slice(1, bins - 1 if num_frames % 2 == 0 else bins)
        a = self.weight_real.to(real.dtype)
        b = self.weight_imag.to(real.dtype)

        def mix(w1: torch.Tensor, x1: torch.Tensor, w2: torch.Tensor,
                x2: torch.Tensor, sign: int) -> torch.Tensor:
            """``w1 @ x1 + sign * w2 @ x2`` over the flattened positions."""
            # matmul, not baddbmm: ONNX infers MatMul's output shape, which
            # its BatchNorm needs.
            out = torch.matmul(w1, x1.flatten(2))
            return out.add_(torch.matmul(w2, x2.flatten(2)), alpha=sign)

        norm = self.norm
        stats_dtype = norm.running_mean.dtype
        mean = norm.running_mean.view(2, c)
        var = norm.running_var.view(2, c)

        def normalise(x: torch.Tensor, part: int) -> torch.Tensor:
            # A Python-int channel count, as in forward, for ONNX's BatchNorm.
            x = x.to(stats_dtype).view(x.shape[0], self.channels, x.shape[2])
            x = F.batch_norm(x, mean[part], var[part], training=False,
                             eps=norm.eps)
            return x.to(real.dtype).view(n, c, -1, h, w)

        out_real = normalise(mix(a, real, b, imag, -1), 0)
        out_imag = normalise(
            mix(b, real[:, :, inner], a, imag[:, :, inner], 1), 1)
        # Zeros at DC (and Nyquist): the inverse transform does not read them.
        out_imag = F.pad(out_imag, (0, 0, 0, 0, 1, bins - inner.stop))
        return out_real, out_imag


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
        spectral_impl: ``'fft'`` or ``'matmul'`` (the DFT as a matrix
            product, ONNX-exportable); the attribute may be changed later.
    """

    def __init__(self, channels: int, num_frames: int, group_factor: int,
                 corr_channels: int, channel_mixing: bool,
                 spectral_impl: str = 'fft') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        self.spectral_impl = spectral_impl
        self.groups = channels // group_factor
        self.group_factor = group_factor
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
            spec = self.mixing(spec, t)
        return inverse_transform(spec, t, y.dtype)


class StaticSpectralFilter(nn.Module):
    """``DTF_F``: a learned frequency filter per channel, location-invariant."""

    def __init__(self, channels: int, num_frames: int,
                 channel_mixing: bool, spectral_impl: str = 'fft') -> None:
        super().__init__()
        check_spectral_impl(spectral_impl)
        self.spectral_impl = spectral_impl
        bins = num_frames // 2 + 1
        # All-pass start: the filter initially returns its input.
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
            spec = self.mixing(spec, y.shape[2])
        return inverse_transform(spec, y.shape[2], y.dtype)


class TemporalConvFilter(nn.Module):
    """``DTF_1d``: a channel-wise temporal convolution (kernel 3, zero pad)."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (kernel_size, 1, 1),
                              padding=(kernel_size // 2, 0, 0),
                              groups=channels, bias=False)

    def forward(self, y: torch.Tensor,
                corr: Optional[torch.Tensor]) -> torch.Tensor:
        return self.conv(y)
