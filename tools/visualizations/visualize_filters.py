"""Show what one DTF block's learnt dynamic filters do to a video, at the
places and times where things happen (cf. figure 7 of the DTF paper).

One clip of the video goes through the config's test pipeline (one clip,
centre crop) and the recognizer. The PNG shows:

- top row: the two frames where the most change happens (the events: pixel
  change from the clip's median frame, at least one block time step apart),
  each with the Grad-CAM of the predicted class and the two positions P1,
  P2 with the feature cell they fall in; and the change per frame with the
  block's time steps (each step is a tubelet of ``temporal_stride`` frames);
- one row per position, the *same* filter group ``g`` at both: the gain and
  phase per frequency bin of the filter ``S`` the block estimated there,
  its temporal kernel ``k = irfft(S)``, and the feature trace of one channel
  ``c`` of the group over time: the filter's input ``y_c`` and what the
  filter adds to the block's output, ``gamma_c * (k (*) y_c) + beta_c``.

Positions (default ``--positions-from events``): P1 where the first event
is, P2 where the second one is, or, when both happen at one place (as in the
demo's "square then circle"), the place with the least change, for
contrast. ``--positions-from cam`` takes the Grad-CAM maximum and minimum
(falling back to the events when the map is flat); ``--positions`` sets them.

Units: the transforms over time are orthonormal, so ``|S_m| = 1`` in every
bin passes a signal unchanged: the gain is relative to the identity. The
DC bin (and for even ``T`` the Nyquist bin) can only scale a real signal:
the block uses their real part only, and they are drawn as the signed real
gain (phase 0 or pi by sign), not with the phase of an unused imaginary
part. Traces are in the units of the block's input feature; ``gamma_c``
(learnt, per channel) sets how much of the filtered signal is added, which
is why ``|S|`` alone can be large. With channel mixing, the mixing (after
the filter) changes what is added; the trace then also shows the block's
actual ``out_c - x_c``.

Example (the README demo's checkpoint)::

    python tools/visualizations/visualize_filters.py \\
        configs/demo/dtf_r18_demo.py \\
        work_dirs/demo/dtf/epoch_25.pth \\
        data/demo/videos/val/square_then_circle/0000.mp4 --out filters.png
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
from matplotlib.patches import Rectangle  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mmdtf  # noqa: E402,F401  (MMAction2 compat patches, DTF models)
from mmaction.apis import init_recognizer  # noqa: E402
from mmdtf.models import DTFBlock  # noqa: E402
from mmdtf.models.blocks import DynamicSpectralFilter  # noqa: E402
from mmdtf.utils.config_cli import (add_config_arguments,  # noqa: E402
                                    load_config)

# ResNetDTF: backbone.layer3.1.conv2.conv.dtf; SwinDTF:
# backbone.layers.2.blocks.4.dtf. Stages are 0-based (dtf_stages order).
STAGE_PATTERNS = ((re.compile(r'(?:^|\.)layer(\d+)\.'), -1),
                  (re.compile(r'(?:^|\.)layers\.(\d+)\.'), 0))
CROP_STEPS = ('ThreeCrop', 'TenCrop', 'MultiGroupCrop')
COLORS = ('tab:red', 'tab:blue')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw what the learnt DTF filters do at the events of a '
        'video')
    add_config_arguments(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='video file')
    parser.add_argument(
        '--out', default='dtf_filters.png', help='PNG file to write')
    parser.add_argument(
        '--stage', type=int, default=None,
        help='stage (0-based, as in dtf_stages) of the DTF block to read; '
        'default: the last stage whose feature map is larger than 1 x 1')
    parser.add_argument(
        '--block', type=int, default=0,
        help='index of the DTF block within the stage')
    parser.add_argument(
        '--group', type=int, default=None,
        help='filter group (C/G groups of G channels) drawn at both '
        'positions; default: the group that adds the most to the block '
        'output at P1')
    parser.add_argument(
        '--positions-from', choices=('events', 'cam'), default='events',
        help='default positions: where the events are, or the Grad-CAM '
        'maximum and minimum')
    parser.add_argument(
        '--positions', type=int, nargs=4, default=None,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='two positions in pixels of the network input (after the crop)')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
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


def capture_block_io(model: torch.nn.Module, inputs: torch.Tensor,
                     blocks: Sequence[torch.nn.Module]):
    """One forward (with gradients) of the recognizer; returns the class
    scores (1, K) and, per block, its input ``x`` (gradients retained) and
    output."""
    captured = {}

    def keep_input(module, args):
        args[0].retain_grad()
        captured.setdefault(module, {})['x'] = args[0]

    def keep_output(module, args, output):
        captured[module]['out'] = output.detach()

    handles = []
    for block in blocks:
        handles.append(block.register_forward_pre_hook(keep_input))
        handles.append(block.register_forward_hook(keep_output))
    try:
        with torch.enable_grad():
            scores = model.cls_head(model.backbone(inputs))
    finally:
        for handle in handles:
            handle.remove()
    return scores, captured


def grad_cam(feature: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Grad-CAM of ``score`` on ``feature`` (1, C, T, h, w), computed per
    time step: ``relu(sum_c mean_hw(d score / d A_c) * A_c)``, scaled to
    [0, 1] over the clip. Returns (T, h, w). ``feature`` must be part of
    the graph of ``score``, with its gradient retained."""
    feature.grad = None
    score.backward(retain_graph=True)
    weights = feature.grad.mean(dim=(3, 4), keepdim=True)
    cam = F.relu((weights * feature.detach()).sum(dim=1))[0]
    return (cam - cam.min()) / (cam.max() - cam.min()).clamp_min(1e-20)


def block_filters(block: DTFBlock, x: torch.Tensor) -> Tuple[torch.Tensor,
                                                              torch.Tensor]:
    """The filter input ``y`` (C, T, h, w) and the complex filters ``S``
    (C/G, M, h, w) that ``block`` estimates from its input ``x``."""
    with torch.no_grad():
        y, corr = block.filter_inputs(x)
        real, imag = block.filter.estimate(y, corr)  # (1, C/G, 1, M, h, w)
    return y[0].float(), torch.complex(real[0, :, 0].float(),
                                       imag[0, :, 0].float())


def effective_filter(filt: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``S`` (..., M) as the inverse transform uses it: real at DC and, for
    even ``T``, at Nyquist (their imaginary parts cannot act on a real
    signal)."""
    real_only = torch.zeros(filt.shape[-1], dtype=torch.bool)
    real_only[0] = True
    real_only[-1] = num_frames % 2 == 0
    return torch.where(real_only, filt.real.to(filt.dtype), filt)


def apply_filter(filt: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
    """``k (*) y``: ``trace`` (..., T) filtered by ``filt`` (..., M) in the
    orthonormal spectrum, as the block does."""
    t = trace.shape[-1]
    spec = torch.fft.rfft(trace, dim=-1, norm='ortho')
    return torch.fft.irfft(spec * filt, n=t, dim=-1, norm='ortho')


def find_events(frames: np.ndarray,
                min_gap: int) -> Tuple[List[int], np.ndarray, np.ndarray]:
    """The two frames that differ most from the clip's median frame, at
    least ``min_gap`` frames apart. Returns them (in time order), the change
    per frame (T,) and the change map per frame (T, H, W), in grey levels
    (0-255) averaged over RGB."""
    frames = frames.astype(np.float32)
    change = np.abs(frames - np.median(frames, axis=0)).mean(axis=-1)
    energy = change.mean(axis=(1, 2))
    first = int(energy.argmax())
    far = [t for t in range(len(energy)) if abs(t - first) >= min_gap]
    second = max(far, key=lambda t: energy[t]) if far else first
    return sorted((first, second)), energy, change


def _cell_of(xy: Tuple[int, int], size: Tuple[int, int],
             grid: Tuple[int, int]) -> Tuple[int, int]:
    """(row, column) of the feature cell that pixel ``xy`` falls in."""
    (x, y), (height, width), (rows, cols) = xy, size, grid
    return y * rows // height, x * cols // width


def _peak(image: np.ndarray, lowest: bool = False) -> Tuple[int, int]:
    index = int(image.argmin() if lowest else image.argmax())
    return index % image.shape[1], index // image.shape[1]


def event_positions(change: np.ndarray, events: List[int],
                    grid: Tuple[int, int]) -> Tuple[List[Tuple[int, int]],
                                                    str]:
    """P1 at the first event, P2 at the second, or at the place with the
    least change if both fall in one feature cell."""
    size = change.shape[1:]
    # Summing over a cell's size finds where an event is, not one pixel.
    pool = (max(1, size[0] // grid[0]), max(1, size[1] // grid[1]))
    smooth = F.avg_pool2d(torch.from_numpy(change)[:, None], pool, stride=1,
                          padding=(pool[0] // 2, pool[1] // 2),
                          count_include_pad=False)[:, 0, :size[0], :size[1]]
    smooth = smooth.numpy()
    p1, p2 = (_peak(smooth[t]) for t in events)
    if _cell_of(p1, size, grid) != _cell_of(p2, size, grid):
        return [p1, p2], 'P1, P2: where the two events are'
    quiet = _peak(smooth.sum(axis=0), lowest=True)
    return [p1, quiet], ('P1: where both events are; P2: the place with '
                         'the least change, for contrast')


def cam_positions(cam: np.ndarray) -> Optional[List[Tuple[int, int]]]:
    """(x, y) of the maximum and minimum of the clip's summed map; None
    when it is flat (e.g. a 1 x 1 map)."""
    total = cam.sum(axis=0)
    if float(total.max() - total.min()) < 1e-6:
        return None
    return [_peak(total), _peak(total, lowest=True)]


def select_block(stages: Dict[int, List[Tuple[str, DTFBlock]]],
                 stage: Optional[int], block: int, map_sizes: Dict) -> Tuple[
                     str, DTFBlock]:
    available = {s: len(b) for s, b in sorted(stages.items())}
    if stage is None:
        resolved = [s for s, b in stages.items()
                    if map_sizes[b[0][1]][0] * map_sizes[b[0][1]][1] > 1]
        stage = max(resolved or stages)
    if stage not in stages or not 0 <= block < len(stages[stage]):
        raise ValueError(
            f'No DTF block {block} in stage {stage} (--stage, --block); the '
            f'model has dynamic DTF blocks per stage: {available}.')
    return stages[stage][block]


def choose_group(block: DTFBlock, filt: torch.Tensor,
                 y: torch.Tensor) -> Tuple[int, int]:
    """The group, and its channel, whose filtered trace ``gamma_c * (k (*)
    y_c)`` has the most energy at a cell: filt (C/G, M), y (C, T)."""
    groups = filt.shape[0]
    filtered = apply_filter(filt.repeat_interleave(y.shape[0] // groups, 0),
                            y)
    gamma = block.gamma.detach().float().flatten().cpu()
    energy = (gamma[:, None] * filtered).pow(2).sum(dim=1)
    channel = int(energy.argmax())
    return channel // (y.shape[0] // groups), channel


def _draw_frame(ax, frame, cam, positions, cells, cell_size, title):
    ax.imshow(frame)
    if cam is not None:  # yellow, as opaque as the map is high
        overlay = np.zeros(cam.shape + (4, ))
        overlay[..., :3] = (1., 1., 0.)
        overlay[..., 3] = 0.6 * cam
        ax.imshow(overlay, extent=(-0.5, frame.shape[1] - 0.5,
                                   frame.shape[0] - 0.5, -0.5))
    for (x, y), (row, col), color, tag in zip(positions, cells, COLORS,
                                              ('P1', 'P2')):
        ax.add_patch(Rectangle((col * cell_size[1] - 0.5,
                                row * cell_size[0] - 0.5), cell_size[1],
                               cell_size[0], fill=False, ec=color, lw=2))
        ax.plot(x, y, '+', ms=10, color=color, mew=2)
        ax.annotate(tag, (x, y), xytext=(4, -4), textcoords='offset points',
                    color=color, fontsize=11, weight='bold')
    ax.set_title(title, fontsize=9)
    ax.axis('off')


def draw(out: str, info: dict) -> None:
    t_block, stride = info['num_frames'], info['stride']
    bins = np.arange(info['filters'][0].shape[0])
    fig = plt.figure(figsize=(14, 9), dpi=80)
    fig.suptitle(info['suptitle'], fontsize=10)
    grid = fig.add_gridspec(3, 4, height_ratios=(1.15, 1, 1))
    for col, t in enumerate(info['events']):
        cam = info['cam_pixels'][t] if info['cam_pixels'] is not None \
            else None
        _draw_frame(fig.add_subplot(grid[0, col]), info['frames'][t], cam,
                    info['positions'], info['cells'], info['cell_size'],
                    f'event {col + 1}: frame {t} (block step {t // stride})'
                    f'\n{info["cam_note"]}')
    ax = fig.add_subplot(grid[0, 2:])
    frames_axis = np.arange(len(info['energy']))
    ax.bar(frames_axis, info['energy'], color='0.5')
    for t in info['events']:
        ax.bar(t, info['energy'][t], color='k')
    for step in range(1, t_block):
        ax.axvline(step * stride - 0.5, color='0.7', ls=':')
    ax.set_xlabel(f'frame (dotted: the block\'s {t_block} time steps, '
                  f'{stride} frames each)')
    ax.set_ylabel('mean |frame - median frame|\n(grey levels)')
    ax.set_title(info['positions_note'], fontsize=9)

    steps = np.arange(t_block)
    for row in range(2):
        color, tag = COLORS[row], f'P{row + 1}'
        filt = info['filters'][row]
        real_only = [0] + ([len(bins) - 1] if t_block % 2 == 0 else [])
        ax_gain = fig.add_subplot(grid[row + 1, 0])
        ax_gain.bar(bins, np.abs(filt), color=color)
        ax_gain.axhline(1, color='k', lw=0.8, ls='--')
        ax_gain.set_xticks(bins)
        ax_gain.set_ylabel(f'{tag}: gain |S_m| (1 = identity)')
        ax_gain.set_title(f'{tag} group {info["group"]}: gain per bin',
                          fontsize=9)
        ax_phase = fig.add_subplot(grid[row + 1, 1])
        complex_bins = [m for m in bins if m not in real_only]
        ax_phase.plot(complex_bins, np.angle(filt[complex_bins]), 'o',
                      color=color, ms=8)
        ax_phase.plot(real_only, np.angle(filt[real_only]), 's', mfc='none',
                      mec=color, ms=8)
        ax_phase.set_ylim(-np.pi * 1.15, np.pi * 1.15)
        ax_phase.set_yticks([-np.pi, 0, np.pi], ['-pi', '0', 'pi'])
        ax_phase.set_xticks(bins)
        ax_phase.set_title('phase per bin (squares: real-only bins, '
                           'phase = sign)', fontsize=9)
        ax_kernel = fig.add_subplot(grid[row + 1, 2])
        ax_kernel.bar(steps, info['kernels'][row], color=color)
        ax_kernel.axhline(0, color='k', lw=0.8)
        ax_kernel.set_xticks(steps)
        ax_kernel.set_title('temporal kernel k[tau] = irfft(S)', fontsize=9)
        ax_trace = fig.add_subplot(grid[row + 1, 3])
        for t in info['events']:
            ax_trace.axvspan(t // stride - 0.5, t // stride + 0.5,
                             color='0.9')
        # Two scales: what is added is gamma_c times a filter output whose
        # gain may be far from 1, so it can be much larger or smaller.
        ax_trace.plot(steps, info['inputs'][row], 'k--o', ms=4)
        ax_trace.set_ylabel(f'y_c, filter input (c={info["channel"]})',
                            fontsize=8)
        ax_added = ax_trace.twinx()
        ax_added.plot(steps, info['added'][row], 'o-', color=color, ms=4,
                      label='gamma_c (k (*) y_c) + beta_c')
        if info['block_added'] is not None:
            ax_added.plot(steps, info['block_added'][row], 's:',
                          color=color, ms=3,
                          label='out_c - x_c (after mixing)')
        ax_added.set_ylabel('added to the block output', color=color,
                            fontsize=8)
        ax_added.tick_params(axis='y', colors=color)
        ax_trace.set_xticks(steps)
        ax_trace.set_title('feature trace at ' + tag + ' (black dashed: '
                           'input; grey: event steps)', fontsize=9)
        ax_added.legend(fontsize=7, loc='best')
        if row == 1:
            ax_gain.set_xlabel('frequency bin m (cycles per clip)')
            ax_phase.set_xlabel('frequency bin m')
            ax_kernel.set_xlabel('tap tau (block time steps)')
            ax_trace.set_xlabel('block time step t')
    fig.tight_layout()
    fig.savefig(out, format='png')
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args)
    model = init_recognizer(cfg, args.checkpoint, device=args.device)
    stages = dtf_blocks_by_stage(model)
    inputs, frames = load_clip(model, args.video)
    inputs = inputs.to(args.device)
    all_blocks = [b for blocks in stages.values() for _, b in blocks]
    scores, captured = capture_block_io(model, inputs, all_blocks)
    map_sizes = {b: tuple(captured[b]['x'].shape[3:]) for b in all_blocks}
    block_name, block = select_block(stages, args.stage, args.block,
                                     map_sizes)
    x = captured[block]['x']
    label = int(scores.argmax(dim=1))
    prob = float(scores.detach().softmax(dim=1)[0, label])
    cam = grad_cam(x, scores[0, label]).cpu()  # (T, h, w) at the block
    clip_len, height, width = inputs.shape[2:]
    t_block, grid = x.shape[2], tuple(x.shape[3:])
    stride = clip_len // t_block
    cam_pixels = F.interpolate(cam[None, None], size=(clip_len, height,
                                                      width),
                               mode='nearest')[0, 0].numpy()

    events, energy, change = find_events(frames, stride)
    cam_note = f'Grad-CAM at {block_name.split(".dtf")[0]} ({grid[0]}x' \
               f'{grid[1]})'
    if args.positions is not None:
        positions = [tuple(args.positions[:2]), tuple(args.positions[2:])]
        for px, py in positions:
            if not (0 <= px < width and 0 <= py < height):
                raise ValueError(
                    f'--positions ({px}, {py}) is outside the {width} x '
                    f'{height} network input.')
        positions_note = 'P1, P2: set by --positions'
    else:
        positions = (cam_positions(cam.numpy())
                     if args.positions_from == 'cam' else None)
        positions_note = 'P1: Grad-CAM maximum, P2: minimum'
        if positions is None:
            if args.positions_from == 'cam':
                cam_note += ': flat, positions from the events'
            positions, positions_note = event_positions(change, events, grid)
    if float(cam.max() - cam.min()) < 1e-6:
        cam_pixels, cam_note = None, cam_note + ' is flat, not drawn'
    cells = [_cell_of(p, (height, width), grid) for p in positions]

    y, filters = block_filters(block, x)
    y, filters = y.cpu(), filters.cpu()
    at = [effective_filter(filters[:, :, r, c], t_block)  # (C/G, M)
          for r, c in cells]
    traces = [y[:, :, r, c] for r, c in cells]  # (C, T)
    if args.group is None:
        group, channel = choose_group(block, at[0], traces[0])
    else:
        group = args.group
        if not 0 <= group < filters.shape[0]:
            raise ValueError(f'--group {group} is outside the '
                             f'{filters.shape[0]} filter groups of '
                             f'{block_name}.')
        size = y.shape[0] // filters.shape[0]
        channel = group * size + int(traces[0][group * size:(group + 1)
                                                * size].var(dim=1).argmax())
    gamma = float(block.gamma.detach().flatten()[channel])
    beta = float(block.beta.detach().flatten()[channel])
    picked = [f[group].numpy() for f in at]
    inputs_c = [tr[channel].numpy() for tr in traces]
    added = [gamma * apply_filter(f[group], tr[channel]).numpy() + beta
             for f, tr in zip(at, traces)]
    block_added = None
    if block.filter.mixing is not None:
        delta = (captured[block]['out'] - x.detach())[0, channel].cpu()
        block_added = [delta[:, r, c].numpy() for r, c in cells]

    suptitle = (
        f'{Path(args.video).name}: predicted class {label} (p={prob:.2f}). '
        f'DTF block {block_name}: T={t_block} steps, {grid[0]}x{grid[1]} '
        f'cells.\nFilter group {group} of {filters.shape[0]} at both '
        f'positions; channel c={channel} of it (gamma_c={gamma:+.3f}, '
        f'beta_c={beta:+.3f}). Gain relative to the identity (orthonormal '
        'DFT).\nTraces in the units of the block input; the filter adds '
        'gamma_c * (k (*) y_c) + beta_c to the block output'
        + (' (before the channel mixing)' if block_added else '') + '.')
    draw(args.out, dict(
        num_frames=t_block, stride=stride, events=events, energy=energy,
        frames=frames, cam_pixels=cam_pixels, cam_note=cam_note,
        positions=positions, positions_note=positions_note, cells=cells,
        cell_size=(height // grid[0], width // grid[1]), filters=picked,
        kernels=[torch.fft.irfft(torch.from_numpy(f), n=t_block).numpy()
                 for f in picked],
        group=group, channel=channel, inputs=inputs_c, added=added,
        block_added=block_added, suptitle=suptitle))
    print(f'Predicted class {label} (p={prob:.3f}); DTF block {block_name}; '
          f'events at frames {events}; positions {positions} (cells {cells})'
          f'; group {group}, channel {channel}; wrote {args.out}')
    return dict(label=label, prob=prob, block=block_name, events=events,
                positions=positions, cells=cells, group=group,
                channel=channel, filters=picked, cam=cam, inputs=inputs,
                added=added, block_added=block_added, out=args.out)


if __name__ == '__main__':
    main()
