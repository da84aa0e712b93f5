"""FLOP counting of DTF models: every counted number is written out by hand
here, from the rules of ``mmdtf.analysis.flops``."""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.analysis import FlopAnalyzer

from mmdtf.models import DTFBlock
from mmdtf.analysis.flops import DTFFlopAnalyzer

import helpers


def count(model, *inputs):
    model.eval()  # (MMAction2's ResNet.train returns None, not the model)
    analyzer = DTFFlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analyzer


@pytest.mark.parametrize('norm', ['none', 'batch'])
def test_dtf_block_by_hand(norm):
    """The default block (mixing without a norm) and the mixing with its
    batch norm (the reference's, as an option)."""
    n, c, t, h, w, k, g = 2, 32, 4, 5, 6, 3, 16
    mixing_cfg = True if norm == 'none' else dict(norm=norm)
    analyzer = count(DTFBlock(c, t, kernel_size=k, group_factor=g,
                              channel_mixing=mixing_cfg),
                     torch.randn(n, c, t, h, w))
    m = t // 2 + 1  # 3 frequency bins
    hw = h * w  # 30 locations
    # FA: k^2 * C MACs for the correlation and as many for the aggregation,
    # at each pixel of frames 0..T-2 of each clip.
    fa = 2 * 9 * 32 * 3 * 30 * n  # = 103680
    # Estimator: 1x1 conv from (C + k^2) * T = 164 to 2 * M * C/G = 12.
    estimator = 164 * 12 * 30 * n  # = 118080
    # rfft and irfft as DFT products: 2 * T * M real MACs per transform,
    # one transform per (n, c, h, w).
    dft = 2 * (2 * 4 * 3) * (n * c * hw)  # = 92160
    # Filter product: 4 real multiplies per complex bin of every channel.
    complex_mul = 4 * n * c * m * hw  # = 23040
    # Mixing, eval mode: the real parts of all M bins (A x - B y: 2 real
    # C x C products) and the imaginary part of the one bin between DC and
    # Nyquist (B x + A y); irfft ignores the other two imaginary parts.
    # Non-affine BN (option): one op per element of the parts computed.
    # (The estimator input's rms is element-wise and not counted, as the
    # residual's additions are not.)
    mixing = 2 * 32 * 32 * (m + 1) * hw * n  # = 491520
    bn = 32 * (m + 1) * hw * n if norm == 'batch' else 0  # = 7680
    expected = {
        'frame_aggregation': fa, 'conv': estimator, 'spectral_dft': dft,
        'complex_mul': complex_mul, 'spectral_mixing': mixing}
    if bn:
        expected['batch_norm'] = bn
    assert analyzer.by_operator() == expected
    assert analyzer.total() == (fa + estimator + dft + complex_mul + mixing
                                + bn) == 828480 + bn
    # Paper convention: real x complex DFT MACs, complex products and the
    # complex C x C mixing (4 real MACs) each counted once.
    assert analyzer.total_paper() == (
        103680 + 118080 + 92160 / 2 + 23040 / 4 + 491520 / 4 + bn)
    assert analyzer.total_paper() == 396480 + bn


def test_fft_spectral_impl_counts_rfft_and_irfft():
    """spectral_impl='fft' traces aten::fft_rfft / aten::fft_irfft, counted
    by rfft_flop_jit / irfft_flop_jit as DFT products."""
    x = torch.randn(2, 32, 4, 5, 6)
    block = DTFBlock(32, 4, spectral_impl='fft', channel_mixing=True)
    assert block.spectral_impl == 'fft'
    fft = count(block, x)
    # Rule: 2 * T * M real MACs per transform of length T (M = T // 2 + 1
    # bins), one transform per (n, c, h, w) for rfft and one for irfft:
    # 2 * (2 * 4 * 3) * (2 * 32 * 5 * 6) = 2 * 24 * 1920 = 92160.
    assert fft.by_operator()['spectral_dft'] == 92160
    unsupported = fft.unsupported_ops()
    assert 'aten::fft_rfft' not in unsupported
    assert 'aten::fft_irfft' not in unsupported
    # Everything else as in test_dtf_block_by_hand.
    assert fft.by_operator() == {
        'frame_aggregation': 103680, 'conv': 118080, 'spectral_dft': 92160,
        'complex_mul': 23040, 'spectral_mixing': 491520}


class _RFFT(torch.nn.Module):

    def forward(self, x):
        return torch.view_as_real(torch.fft.rfft(x, dim=2, norm='ortho'))


class _IRFFT(torch.nn.Module):

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return torch.fft.irfft(torch.view_as_complex(x), n=self.n, dim=2,
                               norm='ortho')


def test_rfft_and_irfft_handles_by_hand():
    """Each handle alone, with odd lengths, so that T (the real length) and
    M (the bins) cannot be swapped: 2 * T * M real MACs per transform."""
    # rfft over T = 5: M = 5 // 2 + 1 = 3 bins; transforms: 2 * 3 * 4 = 24
    # (n, c, w); 24 * (2 * 5 * 3) = 720.
    rfft = count(_RFFT(), torch.randn(2, 3, 5, 4))
    assert rfft.by_operator() == {'spectral_dft': 720}
    assert 'aten::fft_rfft' not in rfft.unsupported_ops()
    # irfft of M = 4 bins back to n = 7 frames: transforms: 2 * 3 * 4 = 24;
    # 24 * (2 * 7 * 4) = 1344.
    irfft = count(_IRFFT(7), torch.randn(2, 3, 4, 4, 2))
    assert irfft.by_operator() == {'spectral_dft': 1344}
    assert 'aten::fft_irfft' not in irfft.unsupported_ops()


def test_matmul_spectral_impl_counts_like_fft():
    """spectral_impl='matmul' traces as MatMuls in the filter: the same
    spectral_dft count as the FFTs; building the DFT matrices is not
    counted."""
    from mmdtf.models.blocks.spectral_transforms import _DFT_CACHE
    _DFT_CACHE.clear()  # built while tracing
    x = torch.randn(2, 32, 4, 5, 6)
    fft = count(DTFBlock(32, 4, spectral_impl='fft', channel_mixing=True),
                x)
    matmul = count(DTFBlock(32, 4, spectral_impl='matmul',
                            channel_mixing=True), x)
    assert matmul.by_operator() == fft.by_operator()
    assert matmul.by_operator()['spectral_dft'] == 92160
    assert 'aten::fft_rfft' not in matmul.unsupported_ops()


def test_plain_flop_analyzer_misses_dtf_operators():
    """What MMEngine alone counts: the estimator conv, the mixing's matmuls
    (2 C^2 per location of the M real parts and the one imaginary part
    computed, for both clips: the weight is expanded over the batch); not
    FA, the FFTs or the complex product."""
    x = torch.randn(2, 32, 4, 5, 6)
    block = DTFBlock(32, 4, spectral_impl='fft', channel_mixing=True)
    plain = FlopAnalyzer(block.eval(), (x, ))
    plain.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert plain.by_operator() == {'conv': 118080,
                                   'matmul': 2 * 2 * 32 * 32 * (3 + 1) * 5
                                   * 6}
    unsupported = plain.unsupported_ops()
    assert unsupported['mmdtf::frame_aggregation'] == 1
    assert unsupported['aten::fft_rfft'] == 1
    assert unsupported['aten::fft_irfft'] == 1
    # the complex product: two mul and two addcmul_; the estimator input:
    # four mul of traced sizes (its weight's column blocks) and the rms
    # scaling of the corr columns' output, an addcmul_; gamma: an addcmul
    assert unsupported['aten::mul'] == 6
    assert unsupported['aten::addcmul_'] == 3
    assert unsupported['aten::addcmul'] == 1


@pytest.mark.parametrize('t', [1, 5])
def test_fa_and_dft_lengths(t):
    """T = 1: FA does nothing; odd T = 5 has M = 3 bins."""
    c, h, w = 16, 3, 4
    block = DTFBlock(c, t, group_factor=16, channel_mixing=False)
    analyzer = count(block, torch.randn(1, c, t, h, w))
    m = t // 2 + 1
    ops = analyzer.by_operator()
    assert ops['frame_aggregation'] == 2 * 9 * c * (t - 1) * h * w
    assert ops['spectral_dft'] == 2 * (2 * t * m) * c * h * w
    assert ops['complex_mul'] == 4 * c * m * h * w
    assert ops['conv'] == (c + 9) * t * (2 * m * 1) * h * w
    assert 'spectral_mixing' not in ops and 'batch_norm' not in ops
    if t == 1:
        assert ops['frame_aggregation'] == 0 and ops['spectral_dft'] == 768


def test_static_and_conv1d_variants():
    n, c, t, h, w = 1, 8, 6, 2, 3
    x = torch.randn(n, c, t, h, w)
    static = count(DTFBlock(c, t, filter_type='static', channel_mixing=False,
                            aggregate=False), x)
    # 4 bins; no FA, no estimator: DFTs and the product only.
    assert static.by_operator() == {
        'spectral_dft': 2 * (2 * 6 * 4) * 8 * 6,  # = 4608
        'complex_mul': 4 * 8 * 4 * 6}  # = 768
    fa = 2 * 9 * 8 * 5 * 6  # = 4320
    conv1d = count(DTFBlock(c, t, filter_type='conv1d'), x)
    # DTF_1d: a full temporal conv, kernel 3: 3 * C MACs per output element
    assert conv1d.by_operator() == {'conv': 3 * 8 * 8 * 6 * 6,  # = 6912
                                    'frame_aggregation': fa}
    channelwise = count(DTFBlock(c, t, filter_type='conv1d_channelwise'), x)
    # depth-wise: 3 MACs per output element
    assert channelwise.by_operator() == {'conv': 3 * 8 * 6 * 6,  # = 864
                                         'frame_aggregation': fa}
    plus = count(DTFBlock(c, t, filter_type='dynamic_conv1d',
                          group_factor=4), x)
    # DTF_1d+: the estimator, (C + 9) * T inputs -> C/G * 3 kernel taps per
    # location; applying the kernels is element-wise (not counted)
    assert plus.by_operator() == {'conv': (8 + 9) * 6 * (2 * 3) * 6,
                                  'frame_aggregation': fa}


def test_resnet_dtf_adds_its_blocks_to_c2d():
    """Tiny R18, DTF in res5 only: DTF-Net = C2D + the two blocks' count."""
    cfg = dict(type='ResNetDTF', depth=18, clip_len=8, temporal_stride=4,
               dtf_cfg=dict(group_factor=16, channel_mixing=True),
               pretrained=None)
    x = torch.randn(1, 3, 8, 64, 64)
    dtf = count(MODELS.build(dict(cfg, dtf_stages=(False, False, False,
                                                   True))), x)
    c2d = count(MODELS.build(dict(cfg, dtf_stages=(False, ) * 4)), x)
    # res5 of R18: two basic blocks of width C = 512 at 2 x 2 (64 / 32),
    # T = 8 / 4 = 2 frames, M = 2 bins, C/G = 32 filters.
    c, t, m, hw = 512, 2, 2, 4
    per_block = {
        'frame_aggregation': 2 * 9 * c * (t - 1) * hw,  # = 36864
        'conv': (c + 9) * t * (2 * m * 32) * hw,  # = 533504
        'spectral_dft': 2 * (2 * t * m) * c * hw,  # = 32768
        'complex_mul': 4 * c * m * hw,  # = 16384
        # Eval mode: both bins are DC or Nyquist, so only their real parts
        # (A x - B y) are mixed.
        'spectral_mixing': 2 * c**2 * m * hw,  # = 4194304
    }
    ops, base = dtf.by_operator(), c2d.by_operator()
    for op, value in per_block.items():
        assert ops[op] - base.get(op, 0) == 2 * value, op
    assert ops['batch_norm'] == base['batch_norm']  # the mixing has none
    assert dtf.total() - c2d.total() == 2 * (
        36864 + 533504 + 32768 + 16384 + 4194304)
    assert dtf.total_paper() - c2d.total_paper() == 2 * (
        36864 + 533504 + 32768 / 2 + 16384 / 4 + 4194304 / 4)
    assert c2d.total() == c2d.total_paper()


def test_get_flops_tool_prints_both_conventions(tmp_path, capsys):
    tool = helpers.load_tool('analysis_tools/get_flops')
    config = tmp_path / 'demo.py'
    helpers.write_pinned_demo_config(config)
    info = tool.main([str(config), '--shape', '1', '3', '16', '32', '32',
                      '--no-table'])
    out = capsys.readouterr().out
    assert 'Input shape: (1, 3, 16, 32, 32)' in out
    assert 'Flops (paper convention, complex MAC counted once): ' \
        f"{info['flops_paper'] / 1e9:.2f}G" in out
    assert f"Flops (all-real multiply-adds): {info['flops'] / 1e9:.2f}G" in out
    assert 'spectral_mixing' in out and 'Counting rules:' in out
    # The demo's DTF blocks: res4 (C = 256, 2 x 2) and res5 (C = 512,
    # 1 x 1), two each, T = 4, M = 3: in eval mode 2 C^2 real MACs for each
    # of the 3 real parts and the 1 imaginary part mixed; 4x all-real.
    mixing = 2 * (2 * 256**2 * 4 * 4) + 2 * (2 * 512**2 * 4 * 1)
    assert info['by_operator']['spectral_mixing'] == mixing
    assert info['flops'] - info['flops_paper'] == pytest.approx(
        mixing * 3 / 4 + info['by_operator']['spectral_dft'] / 2 +
        info['by_operator']['complex_mul'] * 3 / 4)


def test_get_flops_tool_completes_shape_from_config(tmp_path):
    tool = helpers.load_tool('analysis_tools/get_flops')
    from mmengine.config import Config
    config = tmp_path / 'demo.py'
    helpers.write_pinned_demo_config(config)
    cfg = Config.fromfile(str(config))
    assert tool.input_shape_from(cfg, [48]) == (1, 3, 16, 48, 48)
    assert tool.input_shape_from(cfg, [1, 3, 8, 32, 32]) == (1, 3, 8, 32, 32)
    with pytest.raises(ValueError, match=r'1, 2, 4 or 5 sizes, got \[1, 2, '
                       r'3\]'):
        tool.input_shape_from(cfg, [1, 2, 3])


@pytest.mark.parametrize('iterations', [1, 2, 3, 5])
def test_tcp_head_covariance_and_isqrt_by_hand(iterations):
    """TCPHead: D^2 * T*H*W MACs of covariance and (3N - 3) D^3 of
    Newton-Schulz (D^3 at N = 1) per clip, in their own categories."""
    clips, t, h, w, d = 2, 4, 3, 2, 6
    head = MODELS.build(dict(type='TCPHead', num_classes=5, in_channels=7,
                             num_segments=t, mid_channels=8, tcp_channels=d,
                             num_iterations=iterations))
    by_op = count(head, torch.randn(clips * t, 7, h, w)).by_operator()
    assert by_op['covariance_pool'] == clips * 36 * 24  # D^2 * THW
    products = {1: 1, 2: 3, 3: 6, 5: 12}[iterations]
    assert by_op['isqrt'] == clips * products * 216  # D^3
    assert 'bmm' not in by_op


def test_get_flops_tool_counts_the_tcp_head(capsys):
    tool = helpers.load_tool('analysis_tools/get_flops')
    config = helpers.REPO / 'configs' / 'demo' / 'tsn_tcp_r18_demo.py'
    info = tool.main([str(config), '--shape', '32', '--no-table'])
    out = capsys.readouterr().out
    # 8 segments of 32 px: res5 is 1 x 1, D = 128, 3 iterations
    assert 'Input shape: (8, 3, 32, 32)' in out
    assert info['by_operator']['covariance_pool'] == 128**2 * 8
    assert info['by_operator']['isqrt'] == 6 * 128**3
    assert 'covariance_pool' in out and 'isqrt' in out


def test_tin_interlace_is_counted_per_shifted_element():
    """ResNetTINShift: each interlace's two shifted copies count 1 MAC per
    element (`tin_interlace`), from the moved channels' shapes seen here;
    the shift is not reported as an uncounted op."""
    from mmdtf.models.backbones.resnet_tin import TemporalInterlaceShift
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ResNetTINShift', depth=18,
                                 num_segments=4, shift_div=4,
                                 pretrained=None))
    moved = []
    for m in backbone.modules():
        if isinstance(m, TemporalInterlaceShift):
            m.register_forward_hook(lambda mod, inp, out: moved.append(
                inp[0].shape[0] * (inp[0].shape[1] // mod.shift_div) *
                inp[0].shape[2] * inp[0].shape[3]))
    backbone.eval()
    analyzer = DTFFlopAnalyzer(backbone, (torch.randn(4, 3, 32, 32), ))
    analyzer.unsupported_ops_warnings(False)
    by_op = analyzer.by_operator()
    assert len(moved) == 8
    assert by_op['tin_interlace'] == 2 * sum(moved)
    assert 'prim::PythonOp.TINShiftFunction' not in analyzer.unsupported_ops()


def test_get_flops_completes_2d_shape_with_segments():
    tool = helpers.load_tool('analysis_tools/get_flops')
    from mmengine.config import Config
    cfg = Config.fromfile(str(
        helpers.REPO / 'configs' / 'tin' /
        'tin_imagenet-pretrained-r50_8xb6-1x1x16-40e_sthv2-rgb.py'))
    assert tool.input_shape_from(cfg, [224]) == (16, 3, 224, 224)
