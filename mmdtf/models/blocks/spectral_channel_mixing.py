"""The complex channel mixing a spectral filter may apply after modulation.

It comes from the authors' code, not the paper (spec section 2.4): a learned
complex C x C matrix applied to the modulated spectrum at every bin and
location, optionally followed by a non-affine batch norm. See
``docs/reports/channel_mixing.md`` for what its norm does to learning.
"""
from typing import Optional

import torch
from torch import nn

from .spectral_transforms import Spectrum


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


class SpectralChannelMixing(nn.Module):
    """``S'' = norm(W S')`` with ``W = A + iB`` a complex C x C matrix.

    Args:
        channels: ``C``.
        norm: ``'none'`` (the default: docs/reports/channel_mixing.md
            measures that a batch norm here starves the DTF path),
            ``'batch'`` (a non-affine batch norm with separate statistics for
            the real and imaginary parts) or ``'batch_shared'`` (one
            mean and variance per channel over both parts and every bin,
            imaginary zeros included: the reference's ``FFTBatchNorm``).
        init: ``'identity'`` (``W = I``: a new mixing passes the spectrum
            through) or ``'random'`` (the reference: ``A, B ~ N(0, 0.02)``).

    The inverse real DFT that follows ignores the imaginary parts of the DC
    bin and, for even ``T``, of the Nyquist bin. When the caller passes
    ``num_frames`` and no batch statistics are needed (no norm, or a norm
    on its running statistics), those parts are not computed: zeros are
    returned there, the same filtered feature for a third less work at
    ``T = 4``.
    """
    NORMS = ('none', 'batch', 'batch_shared')
    INITS = ('identity', 'random')

    def __init__(self, channels: int, norm: str = 'none',
                 init: str = 'identity') -> None:
        super().__init__()
        if norm not in self.NORMS or init not in self.INITS:
            raise ValueError(
                f'channel mixing: norm must be one of {self.NORMS} and init '
                f'one of {self.INITS}, got norm={norm!r}, init={init!r} '
                '(config key `dtf_cfg.channel_mixing`).')
        self.channels = channels
        self.norm_type = norm
        self.init = init
        # [[A, -B], [B, A]] acting on [real; imag] is the complex matrix A + iB.
        self.weight_real = nn.Parameter(torch.empty(channels, channels))
        self.weight_imag = nn.Parameter(torch.empty(channels, channels))
        norm_channels = dict(none=0, batch=2 * channels,
                             batch_shared=channels)[norm]
        # A module (not bare buffers) so that the Runner's sync_bn converts it.
        self.norm = (nn.BatchNorm3d(norm_channels, affine=False)
                     if norm_channels else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == 'identity':
            nn.init.eye_(self.weight_real)
            nn.init.zeros_(self.weight_imag)
        else:
            nn.init.normal_(self.weight_real, std=0.02)
            nn.init.normal_(self.weight_imag, std=0.02)

    def uses_batch_stats(self) -> bool:
        norm = self.norm
        return norm is not None and (norm.training or
                                     norm.running_var is None)

    def forward(self, spec: Spectrum,
                num_frames: Optional[int] = None) -> Spectrum:
        """Mix (and normalise) ``spec``, a pair of (N, C, M, H, W) tensors.

        Args:
            spec: the (real, imag) spectrum.
            num_frames: ``T``, given when the result goes to the inverse real
                DFT next: the parts that transform ignores are then returned
                as zeros instead of being computed, where the norm allows.
        """
        # (N, M, C, H*W): bins outermost, as the time transforms store them,
        # so these are views and each (clip, bin) is one matrix product.
        real, imag = (part.transpose(1, 2) for part in spec)
        n, bins, c, h, w = real.shape
        x, y = real.flatten(3), imag.flatten(3)
        read_only = num_frames is not None and not self.uses_batch_stats()
        # From num_frames, a Python int: no traced size arithmetic.
        nyquist = read_only and num_frames % 2 == 0
        imag_bins = (slice(1, num_frames // 2 + 1 - nyquist) if read_only
                     else slice(None))
        a = self.weight_real.to(x.dtype)
        b = self.weight_imag.to(x.dtype)
        out_real = batched_matmul(a, x).sub_(batched_matmul(b, y))
        out_imag = batched_matmul(b, x[:, imag_bins]).add_(
            batched_matmul(a, y[:, imag_bins]))
        out_real, out_imag = self._normalise(out_real, out_imag)
        out_real = out_real.view(n, bins, c, h, w)
        out_imag = out_imag.view(n, -1, c, h, w)
        if read_only:
            # Zeros at DC (and Nyquist): the inverse transform ignores them.
            # (cat writes each element once; F.pad fills, then copies.)
            zeros = out_imag.new_zeros(n, 1, c, h, w)
            out_imag = torch.cat([zeros, out_imag] + [zeros] * nyquist, dim=1)
        return out_real.transpose(1, 2), out_imag.transpose(1, 2)

    def _normalise(self, real: torch.Tensor, imag: torch.Tensor):
        """The norm of (N, M, C, P) parts: the module on batch statistics
        (a SyncBatchNorm once converted), else its running statistics as an
        affine map, which also serves a subset of bins."""
        norm = self.norm
        if norm is None:
            return real, imag
        # the norm runs in its buffers' dtype (a model cast to bfloat16
        # keeps bfloat16 statistics); the spectrum itself stays float32
        dtype, stats_dtype = real.dtype, norm.running_mean.dtype
        if self.uses_batch_stats():
            shared = self.norm_type == 'batch_shared'
            # 'batch': channels [real; imag]; 'batch_shared': each channel's
            # real and imaginary values side by side, normalised together.
            both = torch.cat([real, imag], dim=3 if shared else 2)
            flat = both.view(-1, norm.num_features, both.shape[-1], 1, 1)
            both = norm(flat.to(stats_dtype)).to(dtype).view(both.shape)
            return both.chunk(2, dim=3 if shared else 2)
        scale = torch.rsqrt(norm.running_var + norm.eps)
        shift = -norm.running_mean * scale
        scale, shift = scale.to(dtype), shift.to(dtype)
        if self.norm_type == 'batch':
            c = self.channels
            return (torch.addcmul(shift[:c, None], real, scale[:c, None]),
                    torch.addcmul(shift[c:, None], imag, scale[c:, None]))
        return (torch.addcmul(shift[:, None], real, scale[:, None]),
                torch.addcmul(shift[:, None], imag, scale[:, None]))


def build_channel_mixing(channels: int,
                         cfg) -> Optional[SpectralChannelMixing]:
    """``cfg`` (config key ``dtf_cfg.channel_mixing``): False/None (off),
    True (the defaults) or a dict of :class:`SpectralChannelMixing` options
    (``norm``, ``init``)."""
    if not cfg:
        return None
    if cfg is True:
        cfg = {}
    if not isinstance(cfg, dict):
        raise TypeError(f'`dtf_cfg.channel_mixing` must be a bool or a dict '
                        f'of SpectralChannelMixing options, got {cfg!r}.')
    return SpectralChannelMixing(channels, **cfg)
