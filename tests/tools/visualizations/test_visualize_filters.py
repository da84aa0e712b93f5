"""visualize_filters: the events of a "square then circle" video, Grad-CAM
and the learnt filters of a small DTF-Net, written to a real PNG; the drawn
values checked against a real forward and against hand computations."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdtf.datasets.synthetic.shape_order import generate_clip
from mmdtf.datasets.synthetic.video_files import write_video
from mmdtf.models import DTFBlock

import helpers

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# The pinned demo model, clips read at 48 x 48 (res4 map 3 x 3, res5 2 x 2).
TEST_PIPELINE_48 = """
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=10,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(52, 52), keep_ratio=False),
    dict(type='ThreeCrop', crop_size=48),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
"""
SQUARE_THEN_CIRCLE = 6
NO_MIXING = ['--cfg-options', 'model.backbone.dtf_cfg.channel_mixing=False']


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A 16-frame 64 x 64 "square then circle" demo video and a random-init
    demo checkpoint whose DTF blocks are not the identity."""
    from mmaction.registry import MODELS
    root = tmp_path_factory.mktemp('vis')
    config = root / 'dtf_r18_demo.py'
    helpers.write_pinned_demo_config(config, TEST_PIPELINE_48)
    clip, meta = generate_clip(SQUARE_THEN_CIRCLE, 3, num_frames=16,
                               size=64, return_meta=True)
    video = root / 'square_then_circle.mp4'
    write_video(str(video), clip)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, DTFBlock):
            torch.nn.init.normal_(module.gamma, std=0.5)
            torch.nn.init.normal_(module.beta, std=0.1)
    checkpoint = root / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return config, video, checkpoint, meta


@pytest.fixture(scope='module')
def default_run(files, tmp_path_factory):
    config, video, checkpoint, _ = files
    out = tmp_path_factory.mktemp('out') / 'filters.png'
    tool = helpers.load_tool('visualizations/visualize_filters')
    return tool.main([str(config), str(checkpoint), str(video), '--out',
                      str(out)])


def test_writes_png_at_the_events(files, default_run):
    meta = files[3]
    out = default_run['out']
    assert open(out, 'rb').read(8) == PNG_SIGNATURE
    image = cv2.imread(str(out))
    assert image.shape == (720, 1120, 3)  # 14 x 9 inches at 80 dpi
    assert image.std() > 10  # drawn, not blank
    # The drawn frames are one of each flash (make_demo_dataset's meta).
    (_, a0, a1), (_, b0, b1) = meta['events']
    first, second = default_run['events']
    assert a0 <= first <= a1 and b0 <= second <= b1
    # Default block: the last stage with more than one cell, res5 (2 x 2
    # at 48 px); T = 16 / 4, so M = 3 bins and 512 / 16 = 32 groups.
    assert default_run['block'] == 'backbone.layer4.0.conv1.conv.dtf'
    assert [f.shape for f in default_run['filters']] == [(3, ), (3, )]
    # Both flashes at one place: P1 there (the cell holding the events'
    # centre), P2 in another cell, for contrast.
    cx, cy = (v * 48 / 64 - 0.5 for v in meta['centre'])
    (x1, y1), _ = default_run['positions']
    assert abs(x1 - cx) <= 8 and abs(y1 - cy) <= 8
    assert default_run['cells'][0] != default_run['cells'][1]


def test_filters_are_what_a_real_forward_estimates(files, default_run):
    """The drawn filters equal the estimated filters captured during an
    ordinary forward of the model, at the drawn cells and group (DC and
    Nyquist bins: real part only)."""
    config, _, checkpoint, _ = files
    from mmaction.apis import init_recognizer
    model = init_recognizer(str(config), str(checkpoint), device='cpu')
    block = dict(model.named_modules())[default_run['block']]
    captured = []
    estimate = block.filter.estimate

    def capture(y, corr):
        real, imag = estimate(y, corr)
        captured.append(torch.stack([real, imag]).detach())
        return real, imag

    block.filter.estimate = capture
    with torch.no_grad():
        model.backbone(default_run['inputs'])
    del block.filter.estimate
    (out, ) = captured
    groups, bins = block.filter.groups, block.filter.num_bins
    out = out.view(2, groups, bins, *out.shape[-2:])
    group = default_run['group']
    for (row, col), drawn in zip(default_run['cells'],
                                 default_run['filters']):
        real, imag = out[0, group, :, row, col], out[1, group, :, row, col]
        np.testing.assert_allclose(drawn.real, real.numpy(), rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(drawn.imag[1:-1], imag[1:-1].numpy(),
                                   rtol=1e-5, atol=1e-5)
        assert drawn.imag[0] == drawn.imag[-1] == 0  # T = 4: DC, Nyquist


def test_trace_is_what_the_block_adds(files, tmp_path):
    """Without channel mixing the drawn gamma_c (k (*) y_c) + beta_c is
    exactly the block's out - x at the cell: the figure shows what the
    network does."""
    config, video, checkpoint, _ = files
    tool = helpers.load_tool('visualizations/visualize_filters')
    result = tool.main([str(config), str(checkpoint), str(video), '--out',
                        str(tmp_path / 'x.png'), *NO_MIXING])
    from mmaction.apis import init_recognizer
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.dtf_cfg.channel_mixing = False
    model = init_recognizer(cfg, str(checkpoint), device='cpu')
    block = dict(model.named_modules())[result['block']]
    io = {}
    block.register_forward_hook(
        lambda module, args, out: io.update(x=args[0], out=out))
    with torch.no_grad():
        model.backbone(result['inputs'])
    delta = (io['out'] - io['x'])[0, result['channel']]
    assert result['block_added'] is None
    for (row, col), added in zip(result['cells'], result['added']):
        # a cell's T values come out of one inverse transform, in float32
        # with the estimate's rounding: relative to the largest of them
        # (the block and the tool sum in different orders)
        expected = delta[:, row, col].numpy()
        np.testing.assert_allclose(added, expected, rtol=1e-4,
                                   atol=1e-4 * np.abs(expected).max())


def test_grad_cam_by_hand():
    """A linear head on the mean of a feature A (C, T, h, w): d score / d A
    = w_c / (T h w), so the CAM is relu(sum_c w_c A_c) / (T h w), scaled to
    [0, 1] over the clip."""
    tool = helpers.load_tool('visualizations/visualize_filters')
    torch.manual_seed(0)
    c, t, h, w = 3, 2, 2, 3
    feature = torch.randn(1, c, t, h, w, requires_grad=True)
    weight = torch.tensor([0.5, -1.0, 2.0])
    score = (feature.mean(dim=(2, 3, 4)) * weight).sum()
    cam = tool.grad_cam(feature, score)
    expected = torch.zeros(t, h, w)
    for ti in range(t):
        for i in range(h):
            for j in range(w):
                total = sum(float(weight[k]) / (t * h * w)
                            * float(feature[0, k, ti, i, j])
                            for k in range(c))
                expected[ti, i, j] = max(total, 0.)
    expected = (expected - expected.min()) / (expected.max() -
                                              expected.min())
    torch.testing.assert_close(cam, expected, rtol=0, atol=1e-6)


def test_chosen_positions_stage_and_group(files, tmp_path):
    config, video, checkpoint, _ = files
    out = tmp_path / 'res4.png'
    tool = helpers.load_tool('visualizations/visualize_filters')
    result = tool.main([str(config), str(checkpoint), str(video), '--out',
                        str(out), '--stage', '2', '--block', '1',
                        '--positions', '5', '5', '40', '30', '--group', '3'])
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert result['block'] == 'backbone.layer3.1.conv1.conv.dtf'
    assert result['positions'] == [(5, 5), (40, 30)]
    assert result['cells'] == [(0, 0), (1, 2)]  # 3 x 3 map, 16 px cells
    assert result['group'] == 3 and result['channel'] // 16 == 3
    # The same group at two cells of the res4 map: different filters.
    assert not np.allclose(result['filters'][0], result['filters'][1])


def test_events_and_positions_on_synthetic_change():
    tool = helpers.load_tool('visualizations/visualize_filters')
    frames = np.full((16, 32, 32, 3), 50, np.uint8)
    frames[2, 4:10, 20:28] = 250  # event 1: frame 2, top right
    frames[11, 20:28, 2:8] = 200  # event 2: frame 11, bottom left
    frames[3, 4:10, 20:28] = 120  # weaker, same tubelet as event 1
    events, energy, change = tool.find_events(frames, min_gap=4)
    assert events == [2, 11]
    assert energy[2] > energy[11] > energy[3] > energy[0] == 0
    positions, note = tool.event_positions(change, events, (4, 4))
    assert positions[0] == (24, 6) or abs(positions[0][0] - 24) <= 2
    assert tool._cell_of(positions[0], (32, 32), (4, 4)) == (0, 3)
    assert tool._cell_of(positions[1], (32, 32), (4, 4)) == (3, 0)
    assert 'two events' in note
    # Both at one place: P2 is the quietest place instead.
    frames[11] = 50
    frames[11, 4:10, 20:28] = 200
    events, _, change = tool.find_events(frames, min_gap=4)
    positions, note = tool.event_positions(change, events, (4, 4))
    assert tool._cell_of(positions[1], (32, 32), (4, 4)) != (0, 3)
    assert 'least change' in note
    assert tool.cam_positions(np.full((2, 4, 5), .5)) is None
    cam = np.zeros((2, 4, 5))
    cam[1, 3, 2], cam[0, 1, 4] = 1., -1.
    assert tool.cam_positions(cam) == [(2, 3), (4, 1)]


def test_filter_applied_is_the_circular_convolution_by_its_kernel():
    """apply_filter (orthonormal spectra, as the block) equals the circular
    convolution by the drawn kernel k = irfft(S, n=T), with S's DC and
    Nyquist bins taken as real."""
    tool = helpers.load_tool('visualizations/visualize_filters')
    torch.manual_seed(0)
    t = 4
    s = torch.complex(torch.randn(t // 2 + 1, dtype=torch.float64),
                      torch.randn(t // 2 + 1, dtype=torch.float64))
    s = tool.effective_filter(s, t)
    assert s[0].imag == s[-1].imag == 0 and s[1].imag != 0
    y = torch.randn(t, dtype=torch.float64)
    k = torch.fft.irfft(s, n=t)
    conv = torch.stack([sum(k[tau] * y[(i - tau) % t] for tau in range(t))
                        for i in range(t)])
    torch.testing.assert_close(tool.apply_filter(s, y), conv, rtol=0,
                               atol=1e-12)


def test_errors_name_the_values(files, tmp_path):
    config, video, checkpoint, _ = files
    tool = helpers.load_tool('visualizations/visualize_filters')
    with pytest.raises(ValueError, match=r'No DTF block 5 in stage 3 .*'
                       r'\{2: 2, 3: 2\}'):
        tool.main([str(config), str(checkpoint), str(video), '--block', '5',
                   '--stage', '3', '--out', str(tmp_path / 'x.png')])
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        tool.main([str(config), str(checkpoint), str(tmp_path / 'missing.mp4'),
                   '--out', str(tmp_path / 'x.png')])
    with pytest.raises(ValueError, match=r'--positions \(60, 1\) is outside '
                       r'the 48 x 48'):
        tool.main([str(config), str(checkpoint), str(video), '--positions',
                   '60', '1', '2', '2', '--out', str(tmp_path / 'x.png')])
