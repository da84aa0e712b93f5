"""The DTF block without autograd (mmdtf/models/blocks/fused_tail.py: the
estimator's products, then the fused CPU kernel's rms, filter, modulation
and residual) against the naive reference (tests/naive_dtf_block.py), in
float64, over what the kernel's loops depend on: the frame count (the
unrolled 2, 4, 8, 16 and any other), the memory layout (flat frames,
tokens, strided rows), tiles cut by a row's end, one or several threads,
the estimator's options, FA run there or by the block (the PyTorch
path). Then where the block takes the fused path and where not, the
operator, and low precision.
"""
import math

import pytest
import torch

from mmdtf.models import DTFBlock
from mmdtf.models.blocks import fused_tail
from mmdtf.ops import spectral_modulation_cpu
from naive_dtf_block import naive_dtf_block  # tests/ is on sys.path

pytestmark = pytest.mark.skipif(
    spectral_modulation_cpu.EXTENSION.unavailable_reason() is not None,
    reason='the fused CPU kernel cannot be built here: '
    f'{spectral_modulation_cpu.EXTENSION.unavailable_reason()}')

GROUP_FACTOR = 4


def random_block(channels, frames, seed=0, **kwargs):
    """A float64 block with every parameter random (at init it is the
    identity and would not show the filter)."""
    torch.manual_seed(seed)
    kwargs.setdefault('group_factor', GROUP_FACTOR)
    block = DTFBlock(channels, frames, **kwargs).double().eval()
    with torch.no_grad():
        for param in block.parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 1
            param.normal_(std=1 / math.sqrt(fan_in))
    return block


def clip(layout, n, c, t, h, w, dtype=torch.float64, seed=1):
    """(N, C, T, H, W) in ``layout``, a scale per location (0.1 to 10): the
    rms must be per location."""
    gen = torch.Generator().manual_seed(seed)
    scale = 10**torch.empty(n, 1, 1, h, w, dtype=torch.float64).uniform_(
        -1, 1, generator=gen)
    if layout == 'frames':  # ResNetDTF's (N * T, C, H, W)
        x = torch.randn(n, t, c, h, w, generator=gen,
                        dtype=torch.float64).transpose(1, 2)
    elif layout == 'tokens':  # SwinDTF's (N, T, H, W, C)
        x = torch.randn(n, t, h, w, c, generator=gen,
                        dtype=torch.float64).permute(0, 4, 1, 2, 3)
    else:  # rows not following each other: every other column
        x = torch.randn(n, c, t, h, 2 * w, generator=gen,
                        dtype=torch.float64)[..., ::2]
    return (x * scale).to(dtype)


def reference(block, x, backend=None, **kwargs):
    params = {name: value.detach().double()
              for name, value in block.state_dict().items()}
    out, _ = naive_dtf_block(x.double(), params, filter_type='dynamic',
                             group_factor=GROUP_FACTOR, **kwargs)
    return out


CASES = {
    # id: (layout, N, C, T, H, W, block options)
    'frames-T4': ('frames', 2, 8, 4, 5, 11, {}),
    'frames-T2': ('frames', 1, 8, 2, 4, 9, {}),
    'frames-T8': ('frames', 1, 8, 8, 3, 13, {}),
    'frames-T16': ('frames', 1, 4, 16, 2, 10, {}),
    'frames-T6-any': ('frames', 2, 8, 6, 3, 7, {}),
    'frames-T5-odd': ('frames', 1, 8, 5, 4, 6, {}),
    'tokens-T4': ('tokens', 2, 8, 4, 3, 5, {}),
    'strided-T4': ('strided', 1, 8, 4, 6, 10, {}),
    'nocorr': ('frames', 1, 8, 4, 5, 6, dict(use_corr=False)),
    'nofa': ('frames', 1, 8, 4, 5, 6, dict(aggregate=False)),
    'nofa-nocorr': ('frames', 1, 8, 4, 5, 6,
                    dict(aggregate=False, use_corr=False)),
    # FA by the block's operator (the PyTorch path), y in x's layout
    'torch-fa': ('frames', 2, 8, 4, 5, 11, dict(backend='torch')),
    'torch-fa-copies-y': ('frames', 1, 16, 4, 2, 2, dict(backend='torch')),
    'raw-estimator': ('frames', 1, 8, 4, 5, 6, dict(estimator_norm='none')),
    'nobias': ('frames', 1, 8, 4, 5, 6, dict(estimator_bias=False)),
    'previous-corr': ('frames', 1, 8, 4, 5, 6,
                      dict(corr_alignment='previous')),
    'small-plane': ('frames', 1, 16, 4, 2, 2, {}),
}


@pytest.mark.parametrize('threads', [1, 2])
@pytest.mark.parametrize('case', CASES)
def test_equals_naive_reference_float64(case, threads):
    layout, n, c, t, h, w, options = CASES[case]
    block = random_block(c, t, **options)
    x = clip(layout, n, c, t, h, w)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            assert fused_tail.runs_fused_tail(block.filter, x)
            out = block(x)
    finally:
        torch.set_num_threads(before)
    expected = reference(block, x, **options)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    assert (out - x).abs().max() > 0.1  # the filter is really on
    assert out.stride() == x.stride() or layout == 'strided'


def test_same_bits_with_any_number_of_threads():
    """Chunks differ with the thread count; every output is computed the
    same way whatever the chunk (large enough for several chunks)."""
    block = random_block(8, 4).float()
    x = clip('frames', 2, 8, 4, 40, 52).float()
    before = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            with torch.no_grad():
                outs.append(block(x))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


@pytest.mark.parametrize('layout', ['contiguous', 'frames'])
def test_estimator_products(layout):
    """Each way of running the estimator's product (y read in place in the
    weight's (C, T) order; the smaller of y and the weight's columns
    copied) equals the 1x1 convolution of ``z`` that it replaces."""
    gen = torch.Generator().manual_seed(0)
    for n, h, w, out in ((1, 2, 2, 12), (2, 3, 4, 12)):
        c, t, k2 = 8, 4, 9
        y = torch.randn(n, t, c, h, w, generator=gen,
                        dtype=torch.float64).transpose(1, 2)
        if layout == 'contiguous':
            y = y.contiguous()
        corr = torch.randn(n, k2, t, h, w, generator=gen,
                           dtype=torch.float64)
        weight = torch.randn(out, (c + k2) * t, 1, 1, generator=gen,
                             dtype=torch.float64)
        from_y, from_corr = fused_tail.estimator_products(y, corr, weight)
        z = torch.cat([y, corr], 1).reshape(n, -1, h, w)
        expected = torch.nn.functional.conv2d(z, weight)
        torch.testing.assert_close(from_y + from_corr, expected)


def test_where_it_runs():
    """Not with autograd, channel mixing, the FFT, the authors' filter
    expansion, another filter, autocast or tracing."""
    x = clip('frames', 1, 8, 4, 3, 8).float()
    block = random_block(8, 4).float()
    assert not fused_tail.runs_fused_tail(block.filter, x)  # grad enabled
    with torch.no_grad():
        assert fused_tail.runs_fused_tail(block.filter, x)
        with torch.autocast('cpu'):
            assert not fused_tail.runs_fused_tail(block.filter, x)
        block.filter.spectral_impl = 'fft'
        assert not fused_tail.runs_fused_tail(block.filter, x)
        for options in (dict(channel_mixing=True),
                        dict(filter_sharing='flat_repeat'),
                        dict(filter_type='static', group_factor=None)):
            other = random_block(8, 4, **options).float()
            assert not fused_tail.runs_fused_tail(other.filter, x)
    with torch.inference_mode():
        assert fused_tail.runs_fused_tail(block.filter, x) is False  # fft
        block.filter.spectral_impl = 'matmul'
        assert fused_tail.runs_fused_tail(block.filter, x)


def test_operator():
    """``mmdtf::block_tail`` (the tail while compiling): schema, fake
    implementation and the function's values (``torch.library.opcheck``)."""
    block = random_block(8, 4).float()
    x = clip('frames', 1, 8, 4, 3, 9).float()
    filt = block.filter
    params = [p.detach() for p in (filt.estimator.weight,
                                   filt.estimator.bias, block.gamma,
                                   block.beta)]
    with torch.no_grad():
        y, corr = block.filter_inputs(x)
        for args in ((x, None, None, *params, True, filt.groups, 3, True,
                      True),  # FA in the operator
                     (x, y, corr, *params, True, filt.groups, 0, True,
                      True)):
            torch.library.opcheck(fused_tail.block_tail_op, args)


#: unit roundoff of each dtype, and how many of them of the magnitude of
#: the output's terms (|x| + |gamma f'| + |beta|) it may be off: the bound
#: of the block's other path (tests/models/blocks/test_dtf_block_reference.py),
#: which rounds where this one does (the input, the weights, FA's outputs,
#: the estimator's products, the output) and more (the filter, f', the
#: residual's sum)
ROUNDOFFS = {torch.bfloat16: (2.**-8, 12), torch.float16: (2.**-11, 12)}


@pytest.mark.parametrize('dtype', ROUNDOFFS, ids=['bfloat16', 'float16'])
def test_low_precision_against_float64_reference(dtype):
    block = random_block(8, 4, seed=3).to(dtype)
    x = clip('frames', 2, 8, 4, 5, 11, dtype=dtype, seed=4)
    with torch.no_grad():
        out = block(x)
        params = {name: value.double()
                  for name, value in block.state_dict().items()}
    assert out.dtype == dtype
    expected = reference(block, x)
    filtered = (expected - x.double() - params['beta']) / params['gamma']
    scale = (x.double().abs() + (params['gamma'] * filtered).abs()
             + params['beta'].abs())
    unit, roundoffs = ROUNDOFFS[dtype]
    worst = ((out.double() - expected).abs() / (scale * unit)).max().item()
    assert worst <= roundoffs, f'{worst:.2f} roundoffs'
