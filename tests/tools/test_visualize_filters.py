"""visualize_filters: Grad-CAM and the learnt filters of a small DTF-Net on
a small local video, written to a real PNG."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

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


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A 24-frame 64 x 64 video (a square moving right) and a random-init
    demo checkpoint whose DTF blocks are not the identity."""
    from mmaction.registry import MODELS
    root = tmp_path_factory.mktemp('vis')
    config = root / 'dtf_r18_demo.py'
    helpers.write_pinned_demo_config(config, TEST_PIPELINE_48)
    video = root / 'square.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 8,
                             (64, 64))
    for t in range(24):
        frame = np.full((64, 64, 3), 40, np.uint8)
        frame[24:40, 4 + 2 * t:20 + 2 * t] = (0, 200, 255)
        writer.write(frame)
    writer.release()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, DTFBlock):
            torch.nn.init.normal_(module.gamma, std=0.5)
    checkpoint = root / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return config, video, checkpoint


def test_writes_png_with_cam_extremes(files, tmp_path, capsys):
    config, video, checkpoint = files
    out = tmp_path / 'filters.png'
    tool = helpers.load_tool('visualize_filters')
    result = tool.main([str(config), str(checkpoint), str(video), '--out',
                        str(out)])
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(out))
    assert image.shape == (600, 1400, 3)  # 14 x 6 inches at 100 dpi
    assert image.std() > 10  # drawn, not blank
    assert f'wrote {out}' in capsys.readouterr().out
    # Default: the last DTF stage (res5, stage 3) of the demo, block 0; its
    # map is 2 x 2 at 48 px; T = 16 / 4 = 4 frames, so M = 3 bins and
    # 512 / 16 = 32 groups.
    assert result['block'] == 'backbone.layer4.0.conv1.conv.dtf'
    assert [f.shape for f in result['filters']] == [(32, 3), (32, 3)]
    assert 0 <= result['label'] < 8 and 0 < result['prob'] <= 1
    (x1, y1), (x2, y2) = result['positions']
    assert all(0 <= v < 48 for v in (x1, y1, x2, y2))


def test_chosen_positions_stage_and_group(files, tmp_path):
    config, video, checkpoint = files
    out = tmp_path / 'res4.png'
    tool = helpers.load_tool('visualize_filters')
    result = tool.main([str(config), str(checkpoint), str(video), '--out',
                        str(out), '--stage', '2', '--block', '1',
                        '--positions', '5', '5', '40', '30', '--group', '3'])
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert result['block'] == 'backbone.layer3.1.conv1.conv.dtf'
    assert result['positions'] == [(5, 5), (40, 30)]
    assert result['groups'] == [3, 3]
    assert [f.shape for f in result['filters']] == [(16, 3), (16, 3)]
    # The filters at two cells of the 3 x 3 res4 map differ.
    assert not np.allclose(result['filters'][0], result['filters'][1])


def test_flat_cam_falls_back_to_centre_and_corner(capsys):
    tool = helpers.load_tool('visualize_filters')
    assert tool.cam_positions(torch.full((32, 40), 0.5)) == [(20, 16),
                                                             (5, 4)]
    assert 'flat' in capsys.readouterr().out
    cam = torch.zeros(32, 40)
    cam[3, 7], cam[30, 1] = 1., -1.
    assert tool.cam_positions(cam) == [(7, 3), (1, 30)]


def test_filter_kernel_is_the_circular_convolution():
    """The drawn kernel k = irfft(S, n=T): filtering y by S in the spectrum
    (ortho transforms, as the block) is the circular convolution by k."""
    torch.manual_seed(0)
    t = 4
    s = torch.complex(torch.randn(t // 2 + 1, dtype=torch.float64),
                      torch.randn(t // 2 + 1, dtype=torch.float64))
    y = torch.randn(t, dtype=torch.float64)
    filtered = torch.fft.irfft(torch.fft.rfft(y, norm='ortho') * s, n=t,
                               norm='ortho')
    k = torch.fft.irfft(s, n=t)
    conv = torch.stack([sum(k[tau] * y[(i - tau) % t] for tau in range(t))
                        for i in range(t)])
    torch.testing.assert_close(conv, filtered, rtol=0, atol=1e-12)


def test_errors_name_the_values(files, tmp_path):
    config, video, checkpoint = files
    tool = helpers.load_tool('visualize_filters')
    with pytest.raises(ValueError, match=r'No DTF block 5 in stage 3 .*'
                       r'\{2: 2, 3: 2\}'):
        tool.main([str(config), str(checkpoint), str(video), '--block', '5',
                   '--out', str(tmp_path / 'x.png')])
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        tool.main([str(config), str(checkpoint), str(tmp_path / 'missing.mp4'),
                   '--out', str(tmp_path / 'x.png')])
    with pytest.raises(ValueError, match=r'--positions \(60, 1\) is outside '
                       r'the 48 x 48'):
        tool.main([str(config), str(checkpoint), str(video), '--positions',
                   '60', '1', '2', '2', '--out', str(tmp_path / 'x.png')])
