"""The DTF block (spec section 2, paper table 1a/1b) written as literally as
possible: the oracle of ``tests/models/blocks/test_dtf_block_reference.py``.

Shares no code with ``mmdtf.models.blocks``: FA is ``mmdtf.testing``'s naive
reference, spectra are complex tensors from ``torch.fft`` (``norm='ortho'``),
products are einsums and explicit loops, and the mixing's batch norm is
written out. Slow on purpose; meant for float64 and tiny shapes.

The block's weights are passed as a dict named like its ``state_dict()``
(the names are the block's public interface):

- ``gamma``, ``beta``: (1, C, 1, 1, 1);
- dynamic: ``filter.estimator.weight`` (2 * C/G * M, (C + k*k) * T, 1, 1) and
  ``.bias`` (absent with ``estimator_bias=False``); input channel
  ``i = c * T + t`` reads channel ``c`` of ``[y, corr]`` at frame t. With
  ``filter_sharing='groups'`` output channel ``o = p * (C/G * M) + g * M + m``
  holds part ``p`` (0 real, 1 imaginary) of group ``g``'s filter at bin
  ``m``; with ``'flat_repeat'`` (the authors' code) channel ``c``'s filter
  at bin ``m``, part ``p``, is output channel ``((c * M + m) * 2 + p) // G``;
- static: ``filter.filter_real`` and ``filter.filter_imag`` (C, M, 1, 1);
- spectral mixing: ``filter.mixing.weight_real`` / ``weight_imag`` (C, C),
  the complex matrix ``A + iB`` acting on the channel vector, and, with a
  norm, ``filter.mixing.norm.running_mean`` / ``running_var`` (see
  :func:`naive_mixing_norm`); ``channel_mixing`` is False (default), True (the
  defaults: no norm) or a dict with ``norm``;
- conv1d / conv1d_channelwise: ``filter.conv.weight`` (C, C or 1, 3, 1, 1);
- dynamic_conv1d: ``filter.estimator.weight`` (C/G * 3, (C + k*k) * T, 1, 1)
  and ``.bias``; output channel ``o = g * 3 + i`` is tap ``i`` of group g.

The named blocks (``variant``) are the settings of :data:`NAIVE_VARIANTS`,
written from spec section 2b.
"""
from typing import Dict, Optional, Tuple

import torch

from mmdtf.testing import naive_frame_aggregation

Params = Dict[str, torch.Tensor]

#: the named blocks of spec section 2b, as this reference's options: the
#: paper's equations (raw estimator input), and the authors' code (raw input,
#: no estimator bias, their filter expansion, their correlation alignment,
#: the mixing with a shared-statistics batch norm)
NAIVE_VARIANTS = {
    'mmdtf': dict(estimator_norm='rms', channel_mixing=False,
                  estimator_bias=True, filter_sharing='groups',
                  corr_alignment='next'),
    'paper': dict(estimator_norm='none', channel_mixing=False,
                  estimator_bias=True, filter_sharing='groups',
                  corr_alignment='next'),
    'authors': dict(estimator_norm='none',
                    channel_mixing=dict(norm='batch_shared'),
                    estimator_bias=False, filter_sharing='flat_repeat',
                    corr_alignment='previous'),
}

#: nn.BatchNorm's defaults, which the mixing's norm uses
NORM_EPS = 1e-5
NORM_MOMENTUM = 0.1


def _batch_norm(values: torch.Tensor, dims, running_mean: torch.Tensor,
                running_var: torch.Tensor, training: bool):
    """Non-affine batch norm of ``values`` over ``dims`` (channels on dim
    1): in training the batch mean and biased variance, the running
    statistics updated with the unbiased one; in eval the running ones."""
    shape = [1] * values.dim()
    shape[1] = -1
    if training:
        count = values.numel() // values.shape[1]
        mean = values.sum(dim=dims) / count
        centred = values - mean.view(shape)
        var = (centred * centred).sum(dim=dims) / count
        new_mean = ((1 - NORM_MOMENTUM) * running_mean
                    + NORM_MOMENTUM * mean.detach())
        new_var = ((1 - NORM_MOMENTUM) * running_var
                   + NORM_MOMENTUM * var.detach() * count / (count - 1))
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    normed = (values - mean.view(shape)) / torch.sqrt(var.view(shape)
                                                      + NORM_EPS)
    return normed, new_mean, new_var


def naive_mixing_norm(spec: torch.Tensor, norm: str,
                      running_mean: Optional[torch.Tensor],
                      running_var: Optional[torch.Tensor], training: bool
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor],
                                 Optional[torch.Tensor]]:
    """The channel mixing's norm on a complex spectrum (N, C, M, H, W);
    returns the normalised spectrum and the running statistics after this
    call.

    - ``'none'``: no norm.
    - ``'batch'``: 2C real channels, ``[real parts; imaginary parts]``
      (channel ``c`` is the real part of ``c``, ``C + c`` its imaginary
      part), each normalised over (N, M, H, W).
    - ``'batch_shared'``: C channels, each normalised over its real and
      imaginary values together, over (N, M, H, W) and both parts.
    """
    if norm == 'none':
        return spec, running_mean, running_var
    c = spec.shape[1]
    if norm == 'batch':
        channels = torch.cat([spec.real, spec.imag], dim=1)  # (N, 2C, ...)
        normed, mean, var = _batch_norm(channels, (0, 2, 3, 4), running_mean,
                                        running_var, training)
        return torch.complex(normed[:, :c], normed[:, c:]), mean, var
    if norm == 'batch_shared':
        parts = torch.stack([spec.real, spec.imag], dim=-1)  # (..., 2)
        normed, mean, var = _batch_norm(parts, (0, 2, 3, 4, 5), running_mean,
                                        running_var, training)
        return torch.complex(normed[..., 0], normed[..., 1]), mean, var
    raise ValueError(f'unknown mixing norm {norm!r}')


def _estimate(weight: torch.Tensor, bias: Optional[torch.Tensor],
              z: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution over ``z`` (N, C', T, H, W) flattened over time:
    ``out[n, o] = bias[o] + sum_{c, t} weight[o, c * T + t] z[n, c, t]``
    at every (h, w); no bias when ``bias`` is None."""
    n, c, t, h, w = z.shape
    per_frame = weight.view(weight.shape[0], c, t)
    out = torch.einsum('oct,ncthw->nohw', per_frame, z)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _previous_frame_correlation(x: torch.Tensor,
                                kernel_size: int) -> torch.Tensor:
    """The authors' correlation: at frame t the centre pixel of frame
    ``t - 1`` (of frame 0 itself at t = 0) against the k x k neighbourhood
    of frame t, ``(1 / C) * sum_c``, zero outside the frame."""
    n, c, t, h, w = x.shape
    r = kernel_size // 2
    corr = torch.zeros(n, kernel_size**2, t, h, w, dtype=x.dtype)
    for ti in range(t):
        query = x[:, :, ti - 1 if ti > 0 else 0]
        for j in range(kernel_size**2):
            dy, dx = j // kernel_size - r, j % kernel_size - r
            for hi in range(h):
                for wi in range(w):
                    if 0 <= hi + dy < h and 0 <= wi + dx < w:
                        corr[:, j, ti, hi, wi] = (
                            query[:, :, hi, wi]
                            * x[:, :, ti, hi + dy, wi + dx]).sum(1) / c
    return corr


def _flat_repeat_filter(s: torch.Tensor, channels: int, bins: int,
                        group_factor: int) -> torch.Tensor:
    """The authors' expansion of the estimator's output ``s`` (N, O, H, W):
    each value repeated G times along the filter flattened as (channel, bin,
    part); returns the complex (N, C, M, H, W) filter."""
    index = torch.empty(channels, bins, 2, dtype=torch.long)
    for c in range(channels):
        for m in range(bins):
            for part in range(2):
                flat = (c * bins + m) * 2 + part
                index[c, m, part] = flat // group_factor
    return torch.complex(s[:, index[..., 0]], s[:, index[..., 1]])


def _scale_free(y: torch.Tensor, corr: Optional[torch.Tensor]):
    """``estimator_norm='rms'``: at each clip and location, ``y`` over its
    root mean square over all (channel, frame) values, ``corr`` over its
    square; eps 1e-6 inside the root."""
    n, c, t, h, w = y.shape
    rms = torch.empty(n, 1, 1, h, w, dtype=y.dtype)
    for ni in range(n):
        for hi in range(h):
            for wi in range(w):
                values = y[ni, :, :, hi, wi].flatten()
                rms[ni, 0, 0, hi, wi] = torch.sqrt(
                    (values * values).sum() / values.numel() + 1e-6)
    return y / rms, None if corr is None else corr / rms**2


def _group_of_each_channel(channels: int, group_factor: int) -> torch.Tensor:
    """Channel ``c`` uses group ``c // G``'s filter: G consecutive channels
    share one."""
    return torch.tensor([c // group_factor for c in range(channels)])


def _shifted(y: torch.Tensor, d: int) -> torch.Tensor:
    """``out[:, :, t] = y[:, :, t + d]``, zero where ``t + d`` is outside."""
    out = torch.zeros_like(y)
    t = y.shape[2]
    for ti in range(t):
        if 0 <= ti + d < t:
            out[:, :, ti] = y[:, :, ti + d]
    return out


def _spectral(y: torch.Tensor, filt: torch.Tensor, p: Params,
              channel_mixing: bool, training: bool
              ) -> Tuple[torch.Tensor, Optional[Tuple[torch.Tensor,
                                                      torch.Tensor]]]:
    """Steps 2, 4 (with the mixing) and 5 of spec section 2: modulate the
    spectrum of ``y`` by the complex ``filt`` (broadcast to (N, C, M, H,
    W))."""
    t = y.shape[2]
    spec = torch.fft.rfft(y, dim=2, norm='ortho') * filt
    stats = None
    if channel_mixing:
        # True: the mixing's defaults; a dict: its options
        norm = (channel_mixing.get('norm', 'none')
                if isinstance(channel_mixing, dict) else 'none')
        mix = torch.complex(p['filter.mixing.weight_real'],
                            p['filter.mixing.weight_imag'])
        spec = torch.einsum('dc,ncmhw->ndmhw', mix, spec)
        spec, mean, var = naive_mixing_norm(
            spec, norm, p.get('filter.mixing.norm.running_mean'),
            p.get('filter.mixing.norm.running_var'), training)
        if mean is not None:
            stats = (mean, var)
    return torch.fft.irfft(spec, n=t, dim=2, norm='ortho'), stats


def naive_dtf_block(x: torch.Tensor, p: Params, *, filter_type: str,
                    aggregate: bool = True, use_corr: bool = True,
                    channel_mixing=False, group_factor: int = 16,
                    kernel_size: int = 3, training: bool = True,
                    estimator_norm: str = 'rms', estimator_bias: bool = True,
                    filter_sharing: str = 'groups',
                    corr_alignment: str = 'next',
                    variant: Optional[str] = None
                    ) -> Tuple[torch.Tensor, Optional[Tuple[torch.Tensor,
                                                            torch.Tensor]]]:
    """``out = x + gamma * filter(y, corr) + beta``; returns ``out`` and,
    with the channel mixing, its norm's running (mean, var) after the call.
    ``use_corr`` and ``group_factor`` are read by the dynamic filters only,
    ``channel_mixing`` by the spectral ones, ``estimator_norm`` and
    ``corr_alignment`` by the dynamic ones, ``estimator_bias`` and
    ``filter_sharing`` by DTF's. A ``variant`` sets the options of
    :data:`NAIVE_VARIANTS` that the filter reads."""
    if variant is not None:
        # (a filter ignores the settings it has no use for)
        settings = NAIVE_VARIANTS[variant]
        channel_mixing = settings['channel_mixing']
        estimator_norm = settings['estimator_norm']
        estimator_bias = settings['estimator_bias']
        filter_sharing = settings['filter_sharing']
        corr_alignment = settings['corr_alignment']
    n, c, t, h, w = x.shape
    dynamic = filter_type in ('dynamic', 'dynamic_conv1d')
    use_corr = use_corr and dynamic
    y, corr = x, None
    if aggregate or use_corr:
        y_fa, corr_fa = naive_frame_aggregation(x, kernel_size)
        if aggregate:
            y = y_fa
        if use_corr:
            corr = (corr_fa if corr_alignment == 'next' else
                    _previous_frame_correlation(x, kernel_size))
    y_est, corr_est = (_scale_free(y, corr) if estimator_norm == 'rms'
                       else (y, corr))
    z = y_est if corr is None else torch.cat([y_est, corr_est], dim=1)
    stats = None
    if filter_type == 'dynamic':
        bins = t // 2 + 1
        s = _estimate(p['filter.estimator.weight'],
                      p['filter.estimator.bias'] if estimator_bias else None,
                      z)
        if filter_sharing == 'flat_repeat':
            s_c = _flat_repeat_filter(s, c, bins, group_factor)
        else:
            groups = c // group_factor
            s = s.view(n, 2, groups, bins, h, w)
            s_i = torch.complex(s[:, 0], s[:, 1])  # (N, C/G, M, H, W)
            s_c = s_i[:, _group_of_each_channel(c, group_factor)]
        filtered, stats = _spectral(y, s_c, p, channel_mixing, training)
    elif filter_type == 'static':
        filt = torch.complex(p['filter.filter_real'], p['filter.filter_imag'])
        filtered, stats = _spectral(y, filt[None], p, channel_mixing,
                                    training)
    elif filter_type == 'conv1d':
        weight = p['filter.conv.weight'][:, :, :, 0, 0]  # (C_out, C_in, 3)
        filtered = sum(
            torch.einsum('dc,ncthw->ndthw', weight[:, :, i],
                         _shifted(y, i - 1)) for i in range(3))
    elif filter_type == 'conv1d_channelwise':
        weight = p['filter.conv.weight'][:, 0, :, 0, 0]  # (C, 3)
        filtered = sum(weight[:, i].view(1, c, 1, 1, 1) * _shifted(y, i - 1)
                       for i in range(3))
    elif filter_type == 'dynamic_conv1d':
        groups = c // group_factor
        k = _estimate(p['filter.estimator.weight'],
                      p['filter.estimator.bias'], z)
        k = k.view(n, groups, 3, h, w)
        k = k[:, _group_of_each_channel(c, group_factor)]  # (N, C, 3, H, W)
        filtered = sum(k[:, :, i, None] * _shifted(y, i - 1)
                       for i in range(3))
    else:
        raise ValueError(f'unknown filter_type {filter_type!r}')
    return x + p['gamma'] * filtered + p['beta'], stats
