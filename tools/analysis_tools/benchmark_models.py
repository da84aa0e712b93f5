"""Benchmark DTF models against their peers: speed and peak memory.

Each model is built from its config (``pretrained`` None, random weights) at
the same clip length and resolution, and measured for

- training: forward + backward + SGD step, in clips/s (from the median
  timed iteration: robust to other work on a shared machine);
- inference: forward under ``torch.no_grad``, in clips/s (likewise);
- peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the rise
  of the resident-set high-water mark (``VmHWM``, reset once the model and
  its input are built) over the RSS then. Every (model, mode) runs in a fresh
  subprocess, so no high-water mark carries over from another model.

With ``--rounds R`` every (model, mode) is measured R times, the models in
alternating order (forward, then backward, ...), and the medians are
reported: on a shared machine the speed drifts over a run by more than the
differences between some models.

With ``--same-process`` the models are measured together instead, in one
process per round and mode, their steps timed in turn (the order reversed
every iteration): the machine's drift and the process's own state (where
its memory lies) then hit them alike, which separate processes do not
(memory is not measured: it needs a process per model).

With ``--compile`` every (model, mode) is also measured compiled
(``torch.compile(model.extract_feat)``, inductor with its default options,
as MMEngine's ``compile=True`` compiles the training step), in a fresh
process with inductor's caches off, so each compilation is cold; the
compile time is the first compiled step less a compiled step.
With ``--same-process --compile`` the compiled models are timed together
likewise (each compiled step next to its eager one), without compile times:
a model compiled after another in one process reuses what that compilation
built.

Every figure is also given as a ratio to a baseline measured in the same run:
C2D R50 (DTF-Net R50 with every DTF block off) for the ResNets, Video Swin-B
for SwinDTF-B. The targets checked (``TARGETS``): DTF-Net R50 inference
time over C2D R50's (<= 1.08) and its training step time over C2D R50's
(<= 1.12), DTF at about the cost of its FLOPs; DTF-Net R50 training clips/s
over TSM R50's (>= 1.5); with ``--compile``, compiled DTF-Net R50 inference
time over compiled C2D R50's (<= 1.10) and the compile times (<= 1.5x).
A clip is ``T`` frames: for the 2D TSM/TIN it is ``T`` segments.

Examples::

    # CPU, small: one thread per process
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_models.py \\
        --shape 1 3 16 112 112 --iters 3
    # CPU, DTF-Net against C2D at 224 px, three rounds
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_models.py --models c2d_r50 \\
        dtf_r50 --shape 1 3 16 224 224 --modes infer --rounds 3
    # CUDA with AMP, the paper's 16 x 224 clips
    python tools/analysis_tools/benchmark_models.py --device cuda --amp --shape 8 3 16 224 224
    # eager against torch.compile (inductor), with the compile times
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_models.py --models c2d_r50 \
        dtf_r50 --shape 1 3 16 112 112 --iters 5 --warmup 1 --compile
    # compiled DTF-Net against compiled C2D in one process, three rounds
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_models.py --models c2d_r50 \
        dtf_r50 --shape 1 3 16 224 224 --modes infer --compile --same-process --rounds 3
    # a subset, with a profile of each model's inference
    python tools/analysis_tools/benchmark_models.py --models dtf_r50 c2d_r50 --profile
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from mmdtf.utils.progress import track  # noqa: E402
RESULT_TAG = 'BENCHMARK_RESULT '
COMPILED = ' compiled'  # the suffix of a mode measured under torch.compile
TSM = ('mmaction::recognition/tsm/'
       'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb.py')
TIN = ('mmaction::recognition/tin/'
       'tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py')
I3D = ('mmaction::recognition/i3d/'
       'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py')
SWIN_B = ('mmaction::recognition/swin/swin-base-p244-w877_in1k-pre_'
          '8xb8-amp-32x2x1-30e_kinetics400-rgb.py')
SWIN_DTF_B = ('configs/dtf/dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_'
              'kinetics400-rgb.py')


def _clip_len(cfg, t, h, w):
    cfg.model.backbone.clip_len = t


def _c2d(cfg, t, h, w):
    cfg.model.backbone.clip_len = t
    cfg.model.backbone.dtf_stages = (False, False, False, False)


def _dtf_fft(cfg, t, h, w):
    cfg.model.backbone.clip_len = t
    cfg.model.backbone.dtf_cfg.spectral_impl = 'fft'  # torch.fft over time


def _dtf_mixing(cfg, t, h, w):
    cfg.model.backbone.clip_len = t
    # the default block plus the authors' complex channel mixing (no norm):
    # no named variant (docs/models/dtf_blocks.md), the others' options as
    # 'mmdtf'
    cfg.model.backbone.dtf_cfg.variant = None
    cfg.model.backbone.dtf_cfg.channel_mixing = True


def _segments(cfg, t, h, w):
    cfg.model.backbone.num_segments = t
    cfg.model.cls_head.num_segments = t


def _swin_dtf(cfg, t, h, w):
    cfg.model.backbone.clip_len = t
    cfg.model.backbone.img_size = (h, w)  # decides which blocks get DTF
    cfg.model.backbone.with_cp = False  # as Video Swin-B: no recomputation


def _tin(cfg, t, h, w):
    _segments(cfg, t, h, w)
    # MMAction2's TIN config on mmdtf's tin_shift (mmcv.ops needs no build)
    cfg.model.backbone.type = 'ResNetTINShift'


class Preset(NamedTuple):
    """A model to measure: its config, its baseline, and how to set the
    clip length / size (``adapt(cfg, T, H, W)``)."""
    name: str
    config: str
    baseline: str
    adapt: Optional[Callable] = None
    is_2d: bool = False  # input (N, T, C, H, W): T segments of one frame
    unavailable: Optional[Callable[[], Optional[str]]] = None


PRESETS: Dict[str, Preset] = {
    'c2d_r50': Preset('C2D R50', 'configs/dtf_r50_k400.py', 'c2d_r50', _c2d),
    'dtf_r50': Preset('DTF-Net R50', 'configs/dtf_r50_k400.py', 'c2d_r50',
                      _clip_len),
    'dtf_r50_fft': Preset('DTF-Net R50 (torch.fft)',
                          'configs/dtf_r50_k400.py', 'c2d_r50', _dtf_fft),
    'dtf_r50_mix': Preset('DTF-Net R50 + channel mixing',
                          'configs/dtf_r50_k400.py', 'c2d_r50', _dtf_mixing),
    'tsm_r50': Preset('TSM R50', TSM, 'c2d_r50', _segments, is_2d=True),
    'tin_r50': Preset('TIN R50', TIN, 'c2d_r50', _tin, is_2d=True),
    'i3d_r50': Preset('I3D R50', I3D, 'c2d_r50'),
    'swin_b': Preset('Video Swin-B', SWIN_B, 'swin_b'),
    'swin_dtf_b': Preset('SwinDTF-B', SWIN_DTF_B, 'swin_b', _swin_dtf),
}
DEFAULT_MODELS = ('c2d_r50', 'dtf_r50', 'dtf_r50_fft', 'tsm_r50',
                  'tin_r50', 'i3d_r50', 'swin_b', 'swin_dtf_b')
TARGETS = (
    # (label, model, baseline, metric, comparison, bound): DTF at about the
    # cost of its FLOPs (23.89 G against C2D's 23.32 G)
    ('DTF-Net R50 inference time / C2D R50', 'dtf_r50', 'c2d_r50',
     'infer_time', '<=', 1.08),
    ('DTF-Net R50 training step time / C2D R50', 'dtf_r50', 'c2d_r50',
     'train_time', '<=', 1.12),
    ('DTF-Net R50 training clips/s / TSM R50', 'dtf_r50', 'tsm_r50',
     'train_speed', '>=', 1.5),
)
# torch.compile: compiled DTF-Net R50 / compiled C2D R50 inference time, and
# DTF-Net's compile time / C2D's (training and inference)
COMPILED_INFER_TIME_TARGET, COMPILE_TIME_TARGET = 1.10, 1.5


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Speed and memory of DTF models against their peers')
    parser.add_argument(
        '--models', nargs='+', default=list(DEFAULT_MODELS),
        choices=sorted(PRESETS), help='models to measure')
    parser.add_argument(
        '--shape', type=int, nargs=5, default=[8, 3, 16, 224, 224],
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='batch of clips: N clips of T frames of H x W')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations per mode')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed iterations before them')
    parser.add_argument(
        '--rounds', type=int, default=1,
        help='measure every (model, mode) this many times, the models in '
        'alternating order, and report the medians: a shared machine\'s '
        'drift then favours no model')
    parser.add_argument(
        '--statistic', default='median', choices=('median', 'min', 'cpu'),
        help='per (model, mode): the median step time (and the median of '
        'the rounds); min: the fastest step (and the fastest round); cpu: '
        'the median CPU time of the process per step (CPU only; on a '
        'shared machine it leaves out the time other processes held the '
        'cores). Compile times are wall-clock in every case')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (float16, CUDA)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads per process')
    parser.add_argument(
        '--modes', nargs='+', default=['train', 'infer'],
        choices=['train', 'infer'], help='what to measure')
    parser.add_argument(
        '--compile', action='store_true',
        help='also measure every (model, mode) under torch.compile '
        '(inductor; the step\'s forward, or forward and backward), and '
        'report eager and compiled side by side with the compile time')
    parser.add_argument(
        '--profile', action='store_true',
        help='print the top operators of one inference pass of each model')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='key=value overrides for the DTF models (dtf_r50, c2d_r50, '
        'swin_dtf_b), e.g. model.backbone.dtf_cfg.spectral_impl=matmul')
    parser.add_argument(
        '--same-process', action='store_true',
        help='time the models in one process per round and mode, their '
        'steps in turn (the order reversed every iteration), so that the '
        "machine's drift and the process hit them alike; memory is not "
        'measured (it needs a process per model)')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--worker-mode', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--worker-compiled', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--worker-together', action='store_true',
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ----------------------------------------------------------- worker side --


def build(key: str, shape: Sequence[int], cfg_options: Sequence[str]):
    from mmengine.config import Config, DictAction
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope

    sys.path.insert(0, str(REPO))
    import mmdtf  # noqa: F401  (MMAction2 compat patches, DTF models)
    from mmaction.registry import MODELS

    preset = PRESETS[key]
    if preset.config.startswith('mmaction::'):
        cfg = get_config(preset.config)
    else:
        cfg = Config.fromfile(str(REPO / preset.config))
        if cfg_options:
            parser = argparse.ArgumentParser()
            parser.add_argument('--o', nargs='+', action=DictAction)
            cfg.merge_from_dict(parser.parse_args(['--o', *cfg_options]).o)
    _, _, t, h, w = shape
    cfg.model.backbone.pretrained = None
    if preset.adapt is not None:
        preset.adapt(cfg, t, h, w)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return MODELS.build(cfg.model)


class Workload(NamedTuple):
    """A built model and its step (``make_step(extract_feat)``: the step
    through that forward, eager or compiled)."""
    model: object
    make_step: Callable[[Callable], Callable[[], None]]


def workload(key: str, mode: str, args: argparse.Namespace) -> Workload:
    """Build ``key`` with its input, labels and optimizer on the device, in
    ``mode`` (``train``: forward + backward + SGD step; ``infer``: forward
    under ``torch.no_grad``)."""
    import torch
    import torch.nn.functional as F

    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    n, c, t, h, w = args.shape
    torch.manual_seed(0)
    model = build(key, args.shape, args.cfg_options).to(device)
    is_2d = PRESETS[key].is_2d
    # extract_feat input: (N, T, C, H, W) segments or (N, 1, C, T, H, W)
    shape = (n, t, c, h, w) if is_2d else (n, 1, c, t, h, w)
    inputs = torch.randn(*shape, device=device)
    labels = torch.randint(0, 400, (n, ), device=device)
    autocast = torch.autocast(device.type, dtype=torch.float16,
                              enabled=args.amp and cuda)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(enabled=args.amp and cuda)

    def make_step(extract_feat):
        def step():
            if mode == 'train':
                with autocast:
                    scores, _ = extract_feat(inputs, stage='head')
                    loss = F.cross_entropy(scores.float(), labels)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                with torch.no_grad(), autocast:
                    extract_feat(inputs, stage='head')
        return step

    model.train(mode == 'train')
    return Workload(model, make_step)


def run_worker(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    key, mode = args.worker, args.worker_mode
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    n = args.shape[0]
    model, make_step = workload(key, mode, args)
    from mmdtf.analysis.benchmark import (  # on sys.path once built
        median_seconds, reset_rss_peak, rss_peak_bytes)
    eager_step = make_step(model.extract_feat)
    # compiled as MMEngine's `compile` key does (torch.compile's defaults)
    step = (make_step(torch.compile(model.extract_feat))
            if args.worker_compiled else eager_step)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    # Model and input built: the peak above this is activations, gradients,
    # optimizer state and workspaces.
    rss_before = reset_rss_peak()
    # The first step, apart: compiled, it includes the compilation.
    first_step = median_seconds(step, 0, 1)[0]
    # The median iteration: robust to other work on a shared machine.
    if args.worker_compiled:
        # eager and compiled steps interleaved, so that the machine's drift
        # hits both alike: the speed-up is measured within one process
        for _ in range(args.warmup):
            eager_step()
            step()
        eager_times, times = [], []
        for _ in range(args.iters):
            eager_times.append(step_seconds(eager_step, args.statistic))
            times.append(step_seconds(step, args.statistic))
        per_iter = summarise(times, args.statistic)
        eager_per_iter = summarise(eager_times, args.statistic)
    else:
        for _ in range(args.warmup):
            step()
        times = [step_seconds(step, args.statistic)
                 for _ in range(args.iters)]
        per_iter = summarise(times, args.statistic)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = max(rss_peak_bytes() - rss_before, 0)
    result = dict(key=key, mode=mode, clips_per_s=n / per_iter,
                  time_per_iter=per_iter, times=times, peak_mem=peak,
                  first_step=first_step)
    if args.worker_compiled:
        result['eager_clips_per_s'] = n / eager_per_iter
    if args.profile and mode == 'infer':
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU]
        if cuda:
            activities.append(ProfilerActivity.CUDA)
        with profile(activities=activities) as prof:
            step()
            sync()
        sort_by = 'self_cuda_time_total' if cuda else 'self_cpu_time_total'
        result['profile'] = prof.key_averages().table(sort_by=sort_by,
                                                      row_limit=15)
    return result


def run_together(args: argparse.Namespace) -> dict:
    """``--same-process``: the models of ``args.worker`` (comma-separated)
    built in this process and their steps timed in turn, the order reversed
    every iteration; per model its clips/s and step times (memory is not
    measured: it needs a process of its own). Compiled
    (``--worker-compiled``): every model's compiled step and, interleaved
    with it, its eager step; no compile time, since the models compiled
    after the first reuse the kernels and start-up it paid for."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    keys, mode = args.worker.split(','), args.worker_mode
    steps = {}
    for key in keys:
        model, make_step = workload(key, mode, args)
        eager = make_step(model.extract_feat)
        if args.worker_compiled:
            compiled = make_step(torch.compile(model.extract_feat))
            compiled()  # the compilation, untimed
            steps[key] = dict(eager=eager, compiled=compiled)
        else:
            steps[key] = dict(eager=eager)
    kinds = list(steps[keys[0]])
    for i in range(args.warmup):
        for key in keys if i % 2 == 0 else keys[::-1]:
            for kind in kinds:
                steps[key][kind]()
    times = {(key, kind): [] for key in keys for kind in kinds}
    for i in range(args.iters):
        for key in keys if i % 2 == 0 else keys[::-1]:
            for kind in kinds:
                times[key, kind].append(
                    step_seconds(steps[key][kind], args.statistic))
    n = args.shape[0]
    results = {}
    reported = 'compiled' if args.worker_compiled else 'eager'
    for key in keys:
        timed = times[key, reported]
        results[key] = dict(key=key, mode=mode, times=timed, peak_mem=None,
                            clips_per_s=n / summarise(timed, args.statistic))
        if args.worker_compiled:
            results[key]['eager_clips_per_s'] = n / summarise(
                times[key, 'eager'], args.statistic)
    return results


def step_seconds(step: Callable[[], None], statistic: str) -> float:
    """One call of ``step``: its wall-clock time (synchronised with the
    accelerator), or with ``statistic='cpu'`` the CPU time of this process
    (all its threads), which leaves out the time other processes held the
    cores."""
    from mmdtf.analysis.benchmark import median_seconds
    if statistic != 'cpu':
        return median_seconds(step, 0, 1)[0]
    import time
    start = time.process_time()
    step()
    return time.process_time() - start


def summarise(times: Sequence[float], statistic: str) -> float:
    """The step time reported: the median, or the fastest (``'min'``)."""
    return min(times) if statistic == 'min' else statistics.median(times)


# ----------------------------------------------------------- parent side --


def measure(key: str, mode: str, args: argparse.Namespace,
            together: bool = False) -> dict:
    """Run one (model, mode) in a fresh interpreter; its result dict, or
    one with ``error``. A mode ending in ``COMPILED`` is measured under
    torch.compile. ``together``: ``key`` names several models,
    comma-separated, measured in one process (:func:`run_together`), and
    the result is a dict of their results."""
    compiled = mode.endswith(COMPILED)
    cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', key,
           '--worker-mode', mode[:-len(COMPILED)] if compiled else mode,
           '--shape', *map(str, args.shape),
           '--iters', str(args.iters), '--warmup', str(args.warmup),
           '--device', args.device, '--statistic', args.statistic]
    if args.amp:
        cmd.append('--amp')
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if args.profile and not compiled:
        cmd.append('--profile')
    if compiled:
        cmd.append('--worker-compiled')
    if together:
        cmd.append('--worker-together')
    if args.cfg_options and any(PRESETS[k].config.startswith('configs/')
                                for k in key.split(',')):
        cmd += ['--cfg-options', *args.cfg_options]
    env = dict(os.environ)
    if compiled:  # a cold compilation: no kernels cached by an earlier job
        env['TORCHINDUCTOR_FORCE_DISABLE_CACHES'] = '1'
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                          env=env)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ['?']
    return dict(key=key, mode=mode, error=f'exit {proc.returncode}: '
                f'{tail[0][:200]}')


def combine_rounds(runs: List[dict], statistic: str = 'median') -> dict:
    """One result from a (model, mode)'s rounds: the median clips/s (with
    ``statistic='min'`` the fastest round's) and the median peak memory
    (each round's clips/s kept); a skip or error as it is."""
    for res in runs:
        if 'skipped' in res or 'error' in res:
            return res
    combined = dict(runs[0])
    speeds = [res['clips_per_s'] for res in runs]
    best = max if statistic == 'min' else statistics.median
    combined['clips_per_s'] = best(speeds)
    peaks = [res['peak_mem'] for res in runs]
    combined['peak_mem'] = None if None in peaks else statistics.median(peaks)
    combined['rounds_clips_per_s'] = speeds
    if 'eager_clips_per_s' in runs[0]:  # compiled: its process's eager
        combined['eager_clips_per_s'] = best(
            [res['eager_clips_per_s'] for res in runs])
    # compile time: the first step less a compiled step (median of rounds)
    if all('first_step' in res for res in runs):
        combined['compile_s'] = statistics.median(
            res['first_step'] - res['time_per_iter'] for res in runs)
    return combined


def _ratio(value: Optional[float], base: Optional[float]) -> str:
    if value is None or not base:
        return '-'
    return f'{value / base:.2f}x'


def _seconds(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.0f}'


def _render(rows: List[List[str]]) -> str:
    """Rows of cells (the first the header) as aligned text columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [' | '.join(cell.ljust(width) for cell, width in zip(r, widths))
             for r in rows]
    lines.insert(1, '-+-'.join('-' * width for width in widths))
    return '\n'.join(lines)


def format_table(results: Dict[str, Dict[str, dict]], models: List[str],
                 modes: Sequence[str], mem_unit: str) -> str:
    header = ['model', 'baseline']
    for mode in modes:
        header += [f'{mode} clips/s', 'ratio', f'{mode} mem {mem_unit}',
                   'ratio']
    rows = [header]
    for key in models:
        preset = PRESETS[key]
        base = preset.baseline
        row = [preset.name, PRESETS[base].name]
        for mode in modes:
            res = results.get(key, {}).get(mode, {})
            ref = results.get(base, {}).get(mode, {})
            if 'skipped' in res or 'error' in res:
                row += [res.get('skipped') and 'skipped' or 'error', '', '',
                        '']
                continue
            speed, mem = res.get('clips_per_s'), res.get('peak_mem')
            row += [f'{speed:.3f}' if speed is not None else '-',
                    _ratio(speed, ref.get('clips_per_s')),
                    f'{mem / 2**20:.0f}' if mem is not None else '-',
                    _ratio(mem, ref.get('peak_mem'))]
        rows.append(row)
    return _render(rows)


def _verdict(label: str, value: float, op: str, bound: float) -> str:
    """One target's line: the value, the target and PASS or FAIL."""
    ok = value <= bound if op == '<=' else value >= bound
    return (f"{label}: {value:.2f} (target {op} {bound}): "
            f"{'PASS' if ok else 'FAIL'}")


def format_compile_table(results: Dict[str, Dict[str, dict]],
                         models: List[str], modes: Sequence[str]) -> str:
    """Eager against compiled, per model and mode: clips/s (both measured
    interleaved in the compiled job's process), the compiled speed-up, the
    compiled speed against the compiled baseline, and the compile time (the
    first step less a compiled step) against the baseline's."""
    header = ['model']
    for mode in modes:
        header += [f'{mode} eager clips/s', 'compiled', 'speed-up',
                   'vs baseline', 'compile s', 'vs baseline']
    rows = [header]
    for key in models:
        base = PRESETS[key].baseline
        row = [PRESETS[key].name]
        for mode in modes:
            comp = results.get(key, {}).get(mode + COMPILED, {})
            base_comp = results.get(base, {}).get(mode + COMPILED, {})
            if 'clips_per_s' not in comp:
                row += ['error' if 'error' in comp else '-', '', '', '', '',
                        '']
                continue
            row += [f"{comp['eager_clips_per_s']:.3f}",
                    f"{comp['clips_per_s']:.3f}",
                    _ratio(comp['clips_per_s'], comp['eager_clips_per_s']),
                    _ratio(comp['clips_per_s'],
                           base_comp.get('clips_per_s')),
                    _seconds(comp.get('compile_s')),
                    _ratio(comp.get('compile_s'), base_comp.get('compile_s'))]
        rows.append(row)
    return _render(rows)


def check_compile_targets(results: Dict[str, Dict[str, dict]],
                          modes: Sequence[str]) -> List[str]:
    """The torch.compile targets of DTF-Net R50: compiled no slower than
    eager; compiled inference time <= 1.10x compiled C2D's; compile time
    <= 1.5x C2D's."""
    def get(key, mode, field):
        return results.get(key, {}).get(mode, {}).get(field)

    checks = []
    for mode in modes:
        checks.append((f'Compiled / eager DTF-Net R50 {mode} speed',
                       get('dtf_r50', mode + COMPILED, 'clips_per_s'),
                       get('dtf_r50', mode + COMPILED, 'eager_clips_per_s'),
                       '>=', 1.0))
    checks.append(('Compiled DTF-Net R50 / compiled C2D R50 inference time',
                   get('c2d_r50', 'infer' + COMPILED, 'clips_per_s'),
                   get('dtf_r50', 'infer' + COMPILED, 'clips_per_s'),
                   '<=', COMPILED_INFER_TIME_TARGET))
    for mode in modes:
        checks.append((f'DTF-Net R50 / C2D R50 compile time ({mode})',
                       get('dtf_r50', mode + COMPILED, 'compile_s'),
                       get('c2d_r50', mode + COMPILED, 'compile_s'),
                       '<=', COMPILE_TIME_TARGET))
    lines = []
    for label, num, den, op, bound in checks:
        if num is None or not den:
            lines.append(f'{label}: n/a (not measured)')
            continue
        lines.append(_verdict(label, num / den, op, bound))
    return lines


def check_targets(results: Dict[str, Dict[str, dict]]) -> List[str]:
    lines = []
    for label, key, base, metric, op, bound in TARGETS:
        mode = metric.split('_')[0]
        res = results.get(key, {}).get(mode, {})
        ref = results.get(base, {}).get(mode, {})
        if 'clips_per_s' not in res or 'clips_per_s' not in ref:
            lines.append(f'{label}: n/a (not measured)')
            continue
        if metric.endswith('_time'):  # time ratio = inverse speed ratio
            value = ref['clips_per_s'] / res['clips_per_s']
        else:
            value = res['clips_per_s'] / ref['clips_per_s']
        lines.append(_verdict(label, value, op, bound))
    return lines


def job_label(round_index: int, key: str, mode: str,
              args: argparse.Namespace) -> str:
    """What one measurement is, e.g. ``DTF-Net R50 infer (round 2)``
    (``key``: one model, or several comma-separated)."""
    names = ' + '.join(PRESETS[k].name for k in key.split(','))
    label = f'{names} {mode}'
    return label + (f' (round {round_index + 1})' if args.rounds > 1 else '')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.worker is not None:
        worker = run_together if args.worker_together else run_worker
        print(RESULT_TAG + json.dumps(worker(args)), flush=True)
        return {}
    if args.same_process and args.profile:
        raise ValueError('--same-process does not profile: drop --profile '
                         'or --same-process.')
    if args.amp and not args.device.startswith('cuda'):
        raise ValueError(f'--amp needs --device cuda, got --device '
                         f'{args.device}.')
    if args.shape[2] % 4:
        raise ValueError(f'--shape T={args.shape[2]} must be a multiple of '
                         '4, the temporal stride of DTF-Net and SwinDTF '
                         '(model.backbone.temporal_stride).')
    if args.rounds < 1:
        raise ValueError(f'--rounds must be at least 1, got {args.rounds}.')
    # Baselines first, so that ratios exist when a row is printed.
    models = list(dict.fromkeys(args.models))
    order = sorted(models, key=lambda k: PRESETS[k].baseline != k)
    skipped = {}
    for key in order:
        unavailable = PRESETS[key].unavailable
        reason = unavailable() if unavailable is not None else None
        if reason is not None:
            skipped[key] = reason
            print(f'{PRESETS[key].name}: skipped: {reason}', flush=True)
    runs: Dict[str, Dict[str, List[dict]]] = {}
    modes = list(args.modes)
    if args.compile:
        modes += [mode + COMPILED for mode in args.modes]
    for key in skipped:
        for mode in modes:
            runs.setdefault(key, {})[mode] = [dict(skipped=skipped[key])]
    measured = [key for key in order if key not in skipped]
    jobs = [(round_index, key, mode) for round_index in range(args.rounds)
            for key in (measured if round_index % 2 == 0 else measured[::-1])
            for mode in modes]
    if args.same_process:  # a job per round and mode: all models at once
        jobs = [(round_index, ','.join(measured), mode)
                for round_index in range(args.rounds) for mode in modes]
    # One updating line on stderr while measuring; the figures come in the
    # table, failures (which the table only marks) after it.
    errors = []
    for round_index, key, mode in track(
            jobs, desc='measuring', label=lambda job: job_label(*job, args)):
        res = (measure(key, mode, args, together=True)
               if args.same_process else measure(key, mode, args))
        if 'error' in res:
            errors.append(f"{job_label(round_index, key, mode, args)}: "
                          f"{res['error']}")
        by_key = res if args.same_process and 'error' not in res else {
            k: res for k in key.split(',')}
        for k, k_res in by_key.items():
            runs.setdefault(k, {}).setdefault(mode, []).append(k_res)
    results = {key: {mode: combine_rounds(mode_runs, args.statistic)
                     for mode, mode_runs in by_mode.items()}
               for key, by_mode in runs.items()}

    n, c, t, h, w = args.shape
    mem_unit = 'MiB' if args.device.startswith('cuda') else 'MiB(+RSS)'
    fastest = args.statistic == 'min'
    rounds = (f', {"fastest" if fastest else "median"} of {args.rounds} '
              'rounds in alternating order' if args.rounds > 1 else '')
    what = {'min': 'fastest', 'median': 'median',
            'cpu': 'median CPU time'}[args.statistic]
    print(f'\nDevice {args.device}{" (AMP)" if args.amp else ""}, '
          f'{n} clips of {t} x {h} x {w}, {what} of {args.iters} timed '
          f'iterations after {args.warmup} warm-up{rounds}'
          + ('; the models in one process per round and mode, their steps '
             'in turn, memory not measured' if args.same_process else
             '; memory: ' + ('max_memory_allocated'
                             if args.device.startswith('cuda') else
                             'rise of the RSS high-water mark over the RSS '
                             'of the built model')))
    print(format_table(results, models, args.modes, mem_unit))
    for line in check_targets(results):
        print(line)
    if args.compile:
        print('\ntorch.compile (inductor, default options) against eager, '
              + ('every model\'s compiled and eager steps in turn in one '
                 'process per round and mode; no compile time (it needs a '
                 'process per model: run without --same-process)'
                 if args.same_process else
                 'their steps interleaved in one process per model and '
                 'mode; compile s: the first compiled step less a compiled '
                 'step (a cold compilation: inductor\'s caches off)'))
        print(format_compile_table(results, models, args.modes))
        for line in check_compile_targets(results, args.modes):
            print(line)
    if args.rounds > 1:
        for key in models:
            for mode in args.modes:
                speeds = results.get(key, {}).get(mode, {}).get(
                    'rounds_clips_per_s')
                if speeds:
                    print(f'{PRESETS[key].name} {mode}, clips/s per round: '
                          + ', '.join(f'{v:.3f}' for v in speeds))
    for line in errors:
        print(line)
    if args.profile:
        for key in models:
            prof = results.get(key, {}).get('infer', {}).get('profile')
            if prof:
                print(f'\nProfile of {PRESETS[key].name} inference:\n{prof}')
    return results


if __name__ == '__main__':
    main()
