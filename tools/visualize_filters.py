"""Draw the learnt dynamic temporal filters at two positions of a video, like
figure 7 of the DTF paper.

One clip of the video goes through the config's test pipeline (one clip,
centre crop). The PNG shows:

- a frame of the clip with the Grad-CAM map of the predicted class
  (computed on the last stage's features, the backbone output) and two
  marked positions: by default the CAM maximum and minimum on that frame,
  or ``--positions X1 Y1 X2 Y2`` in pixels of the network input;
- for each position, the frequency filter that the dynamic filter
  estimator of one DTF block (``--stage``, ``--block``) produces at that
  location: magnitude and phase per frequency bin (every group's magnitude
  in grey, the shown group in colour), and the equivalent temporal kernel
  ``k = irfft(S, n=T)``: filtering by ``S`` in the spectrum is the circular
  convolution ``f'[t] = sum_tau k[tau] y[t - tau mod T]`` (before the
  channel mixing, if the block has one).

Example::

    python tools/visualize_filters.py configs/dtf_r50_k400.py dtf_r50.pth \\
        demo.mp4 --stage 3 --block 0 --out filters.png
"""
import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')  # noqa: E402  (before pyplot)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mmdtf  # noqa: E402,F401  (MMAction2 compat patches, DTF models)
from mmaction.apis import init_recognizer  # noqa: E402
from mmdtf.models import DTFBlock  # noqa: E402
from mmdtf.models.blocks import DynamicSpectralFilter  # noqa: E402
from mmdtf.ops import frame_aggregation  # noqa: E402

# ResNetDTF: backbone.layer3.1.conv2.conv.dtf; SwinDTF:
# backbone.layers.2.blocks.4.dtf. Stages are 0-based (dtf_stages order).
STAGE_PATTERNS = ((re.compile(r'(?:^|\.)layer(\d+)\.'), -1),
                  (re.compile(r'(?:^|\.)layers\.(\d+)\.'), 0))
CROP_STEPS = ('ThreeCrop', 'TenCrop', 'MultiGroupCrop')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw Grad-CAM and the learnt DTF filters at two '
        'positions of a video')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='video file')
    parser.add_argument(
        '--out', default='dtf_filters.png', help='PNG file to write')
    parser.add_argument(
        '--stage', type=int, default=None,
        help='stage (0-based, as in dtf_stages) of the DTF block to read; '
        'default: the last stage with DTF')
    parser.add_argument(
        '--block', type=int, default=0,
        help='index of the DTF block within the stage')
    parser.add_argument(
        '--group', type=int, default=None,
        help='filter group (C/G groups of G channels) to draw; default: '
        'the group with the largest filter magnitude at each position')
    parser.add_argument(
        '--positions', type=int, nargs=4, default=None,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='two positions in pixels of the network input (after the '
        'crop); default: the Grad-CAM maximum and minimum')
    parser.add_argument(
        '--frame', type=int, default=None,
        help='frame of the clip to draw (default: the middle one)')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    return parser.parse_args(argv)


def single_view_pipeline(cfg: Config) -> List[dict]:
    """The test pipeline with one clip and a centre crop (no multi-crop)."""
    pipeline = cfg.get('test_pipeline') or cfg.get('val_pipeline')
    if pipeline is None:
        raise ValueError('The config has neither `test_pipeline` nor '
                         '`val_pipeline` to read the video with.')
    steps = []
    for step in pipeline:
        step = dict(step)
        if step['type'] in ('SampleFrames', 'UniformSample'):
            step['num_clips'] = 1
            step['test_mode'] = True
        elif step['type'] in CROP_STEPS:
            step = dict(type='CenterCrop', crop_size=step['crop_size'])
        steps.append(step)
    return steps


def load_clip(model: torch.nn.Module, video: str) -> Tuple[torch.Tensor,
                                                           np.ndarray]:
    """One clip: the normalised network input (1, C, T, H, W) and its
    frames as RGB uint8 (T, H, W, 3)."""
    if not Path(video).is_file():
        raise FileNotFoundError(f'No video file at {video!r}.')
    data = Compose(single_view_pipeline(model.cfg))(
        dict(filename=video, label=-1, start_index=0, modality='RGB'))
    data = pseudo_collate([data])
    raw = data['inputs'][0]  # (1, C, T, H, W), pixel values
    if raw.dim() != 5:
        raise ValueError('visualize_filters needs a 3D recognizer input '
                         '(format_shape NCTHW), got one of shape '
                         f'{tuple(raw.shape)}.')
    inputs = model.data_preprocessor(data, False)['inputs']
    frames = raw[0].permute(1, 2, 3, 0).clamp(0, 255).byte().numpy()
    return inputs.reshape((-1, ) + inputs.shape[2:])[:1], frames


def grad_cam(model: torch.nn.Module,
             inputs: torch.Tensor) -> Tuple[torch.Tensor, int, float]:
    """Grad-CAM of the predicted class on the backbone's output.

    Returns:
        the map (T_in, H, W) in [0, 1], the class and its softmax score.
    """
    with torch.enable_grad():
        feats = model.backbone(inputs)  # (1, C, T, h, w)
        feats.retain_grad()
        scores = model.cls_head(feats)
        label = int(scores.argmax(dim=1))
        model.zero_grad()
        scores[0, label].backward()
    weights = feats.grad.mean(dim=(3, 4), keepdim=True)  # per frame, channel
    cam = F.relu((weights * feats.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=inputs.shape[2:], mode='trilinear',
                        align_corners=False)[0, 0]
    cam = (cam - cam.min()) / (cam.max() - cam.min()).clamp_min(1e-20)
    prob = float(scores.detach().softmax(dim=1)[0, label])
    return cam, label, prob


def dtf_blocks_by_stage(model: torch.nn.Module) -> Dict[int, List[Tuple[
        str, DTFBlock]]]:
    """DTF blocks with a dynamic filter, by stage, in forward order."""
    stages: Dict[int, List[Tuple[str, DTFBlock]]] = {}
    for name, module in model.named_modules():
        if not (isinstance(module, DTFBlock)
                and isinstance(module.filter, DynamicSpectralFilter)):
            continue
        for pattern, offset in STAGE_PATTERNS:
            match = pattern.search(name)
            if match:
                stages.setdefault(int(match.group(1)) + offset,
                                  []).append((name, module))
                break
    if not stages:
        raise ValueError(
            'The model has no DTF block with a dynamic filter (dtf_cfg.'
            "filter_type='dynamic') in a ResNetDTF or SwinDTF stage.")
    return stages


def select_block(model: torch.nn.Module, stage: Optional[int],
                 block: int) -> Tuple[str, DTFBlock]:
    stages = dtf_blocks_by_stage(model)
    available = {s: len(b) for s, b in sorted(stages.items())}
    stage = max(stages) if stage is None else stage
    if stage not in stages or not 0 <= block < len(stages[stage]):
        raise ValueError(
            f'No DTF block {block} in stage {stage} (--stage, --block); the '
            f'model has dynamic DTF blocks per stage: {available}.')
    return stages[stage][block]


def block_filters(model: torch.nn.Module, block: DTFBlock,
                  inputs: torch.Tensor) -> torch.Tensor:
    """The complex filters ``S_i`` the block estimates for this clip:
    (C/G, M, h, w)."""
    captured = {}

    def hook(module, args):
        captured['x'] = args[0].detach()

    handle = block.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            model.backbone(inputs)
    finally:
        handle.remove()
    x = captured['x']
    with torch.no_grad():
        y, corr = x, None
        if block.aggregate or block.use_corr:
            y_fa, corr = frame_aggregation(x, block.kernel_size, block.backend)
            y = y_fa if block.aggregate else x
            corr = corr if block.use_corr else None
        real, imag = block.filter.estimate(y, corr)  # (1, C/G, 1, M, h, w)
    return torch.complex(real[0, :, 0].float(), imag[0, :, 0].float())


def cam_positions(cam_frame: torch.Tensor) -> List[Tuple[int, int]]:
    """(x, y) of the maximum and the minimum of the map; the centre and a
    corner when the map is flat (e.g. a 1 x 1 last-stage map)."""
    height, width = cam_frame.shape
    if float(cam_frame.max() - cam_frame.min()) < 1e-6:
        print('The Grad-CAM map is flat on this frame (is the last stage\'s '
              'map 1 x 1?): drawing the centre and a corner instead; set '
              '--positions to choose.')
        return [(width // 2, height // 2), (width // 8, height // 8)]
    positions = []
    for index in (int(cam_frame.argmax()), int(cam_frame.argmin())):
        positions.append((index % width, index // width))
    return positions


def draw(frame: np.ndarray, cam_frame: np.ndarray,
         positions: List[Tuple[int, int]], filters: List[np.ndarray],
         groups: List[int], num_frames: int, title: str, suptitle: str,
         out: str) -> None:
    colors = ('tab:red', 'tab:blue')
    fig = plt.figure(figsize=(14, 6), dpi=100)
    fig.suptitle(suptitle, fontsize=11)
    grid = fig.add_gridspec(2, 4, width_ratios=(1.4, 1, 1, 1))
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(frame)
    ax.imshow(cam_frame, cmap='jet', alpha=0.45, vmin=0, vmax=1)
    for (x, y), color, tag in zip(positions, colors, ('P1', 'P2')):
        ax.plot(x, y, 'o', ms=10, mfc='none', mec=color, mew=2.5)
        ax.annotate(tag, (x, y), xytext=(6, -6), textcoords='offset points',
                    color=color, fontsize=12, weight='bold')
    ax.set_title(title, fontsize=10)
    ax.axis('off')
    bins = np.arange(filters[0].shape[1])
    taps = np.arange(num_frames)
    for row, (filt, group, color) in enumerate(zip(filters, groups, colors)):
        chosen = filt[group]
        ax_mag = fig.add_subplot(grid[row, 1])
        for other in np.abs(filt):
            ax_mag.plot(bins, other, color='0.8', lw=0.8)
        ax_mag.plot(bins, np.abs(chosen), 'o-', color=color, lw=2)
        ax_mag.set_title(f'P{row + 1} |S| per bin (group {group})',
                         fontsize=10)
        ax_mag.set_xticks(bins)
        ax_phase = fig.add_subplot(grid[row, 2])
        ax_phase.stem(bins, np.angle(chosen), linefmt=color,
                      markerfmt='o', basefmt='k-')
        ax_phase.set_ylim(-np.pi * 1.1, np.pi * 1.1)
        ax_phase.set_yticks([-np.pi, 0, np.pi], ['-pi', '0', 'pi'])
        ax_phase.set_xticks(bins)
        ax_phase.set_title(f'P{row + 1} phase per bin', fontsize=10)
        kernel = torch.fft.irfft(torch.from_numpy(chosen), n=num_frames)
        ax_kernel = fig.add_subplot(grid[row, 3])
        ax_kernel.bar(taps, kernel.numpy(), color=color)
        ax_kernel.axhline(0, color='k', lw=0.8)
        ax_kernel.set_xticks(taps)
        ax_kernel.set_title(f'P{row + 1} temporal kernel k[tau]',
                            fontsize=10)
        if row == len(filters) - 1:
            ax_mag.set_xlabel('frequency bin m')
            ax_phase.set_xlabel('frequency bin m')
            ax_kernel.set_xlabel('tap tau (frames)')
    fig.tight_layout()
    fig.savefig(out, format='png')
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    model = init_recognizer(cfg, args.checkpoint, device=args.device)
    block_name, block = select_block(model, args.stage, args.block)

    inputs, frames = load_clip(model, args.video)
    inputs = inputs.to(args.device)
    cam, label, prob = grad_cam(model, inputs)
    clip_len, height, width = inputs.shape[2:]
    frame = clip_len // 2 if args.frame is None else args.frame
    if not 0 <= frame < clip_len:
        raise ValueError(f'--frame {frame} is outside the clip of '
                         f'{clip_len} frames.')
    cam_frame = cam[frame].cpu()
    if args.positions is None:
        positions = cam_positions(cam_frame)
    else:
        positions = [tuple(args.positions[:2]), tuple(args.positions[2:])]
        for x, y in positions:
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(
                    f'--positions ({x}, {y}) is outside the {width} x '
                    f'{height} network input.')

    filters = block_filters(model, block, inputs)  # (C/G, M, h, w)
    fh, fw = filters.shape[2:]
    picked, groups = [], []
    for x, y in positions:
        filt = filters[:, :, y * fh // height, x * fw // width].cpu().numpy()
        group = (int(np.abs(filt).mean(axis=1).argmax())
                 if args.group is None else args.group)
        if not 0 <= group < filt.shape[0]:
            raise ValueError(f'--group {group} is outside the '
                             f'{filt.shape[0]} filter groups of {block_name}.')
        picked.append(filt)
        groups.append(group)

    title = f'Grad-CAM: class {label} (p={prob:.2f}), frame {frame}'
    suptitle = (f'Dynamic filters of {block_name} (T={block.num_frames}, '
                f'{fh}x{fw} map) at P1 and P2; the DC and Nyquist bins act '
                'through their real part only')
    draw(frames[frame], cam_frame.numpy(), positions, picked, groups,
         block.num_frames, title, suptitle, args.out)
    print(f'Predicted class {label} (p={prob:.3f}); DTF block {block_name}; '
          f'positions {positions}; wrote {args.out}')
    return dict(label=label, prob=prob, block=block_name,
                positions=positions, groups=groups, filters=picked,
                out=args.out)


if __name__ == '__main__':
    main()
