"""Benchmark Frame-wise Aggregation backends on DTF-Net shapes.

For each shape and backend (cupy on CUDA, the fused C++ kernel cpp on CPU,
torch, and the deliberately naive reference of ``mmdtf.testing``, a loop
over frames with ``F.unfold``) it
prints the forward and forward+backward time (median of repeats after
warm-up, with ``torch.utils.benchmark``), the peak extra memory as a
multiple of the input size (GPU: ``max_memory_allocated`` minus the
baseline; CPU: the rise of the resident-set high-water mark, reset just
before the call, in a fresh process with one thread), the forward's achieved
bandwidth counted on the minimum traffic (read ``x`` once, write ``y`` and
``corr``) and its fraction of the device's peak bandwidth, and the speed-up
over the torch path measured in the same run. With ``--rounds R`` the
backends are timed R times in alternating order and the medians reported
(a shared machine's drift then favours none). On CPU it checks the fused
kernel's target: forward + backward at least 3x the torch path's speed at
DTF-Net R50's first stage, (1, 64, 4, 56, 56) (``--shapes stages --batch 1``).

``--layout`` sets how the input is stored: ``standard`` (contiguous
(N, C, T, H, W)), ``frames`` ((N, T, C, H, W) memory: what DTF-Net's blocks
receive, its frames being a batch of images) or ``channels_last``
((N, T, H, W, C): SwinDTF's tokens). The values are the same.

Default shapes: DTF-Net R50 at 16 frames, 224 px (T = 4 after the stem),
the bottleneck widths and sizes of the four stages (C, H) = (64, 56),
(128, 28), (256, 14), (512, 7), batch 8 and 32, plus a long clip (T = 16,
batch 8).

Examples::

    python tools/analysis_tools/benchmark_frame_aggregation.py
    python tools/analysis_tools/benchmark_frame_aggregation.py --dtype float16 --batch 8
    python tools/analysis_tools/benchmark_frame_aggregation.py --device cpu --shapes small
    python tools/analysis_tools/benchmark_frame_aggregation.py --layout frames
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_frame_aggregation.py \
        --device cpu --layout frames --shapes stages --batch 1 \
        --backends cpp torch --rounds 5
"""
import argparse
import os
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from mmdtf.ops import frame_aggregation  # noqa: E402
from mmdtf.testing import naive_frame_aggregation  # noqa: E402
from mmdtf.analysis.benchmark import (cuda_peak_extra_bytes,  # noqa: E402
                                      median_seconds, peak_bandwidth_gbs,
                                      reset_rss_peak, rss_peak_bytes)
from mmdtf.utils.progress import track  # noqa: E402

STAGES = ((64, 56), (128, 28), (256, 14), (512, 7))
BACKEND_ORDER = ('cupy', 'cpp', 'torch', 'naive')
# the fused CPU kernel's target: forward + backward speed over the torch
# path's at DTF-Net R50's first stage, batch 1
CPP_TARGET_SHAPE, CPP_TARGET = (1, 64, 4, 56, 56), 3.0
DTYPES = {'float32': torch.float32, 'float16': torch.float16,
          'bfloat16': torch.bfloat16, 'float64': torch.float64}
# memory order of each layout, as dims of (N, C, T, H, W)
LAYOUTS = {'standard': (0, 1, 2, 3, 4), 'frames': (0, 2, 1, 3, 4),
           'channels_last': (0, 2, 3, 4, 1)}


def make_input(shape: Tuple[int, ...], layout: str, **kwargs) -> torch.Tensor:
    """A random (N, C, T, H, W) tensor stored in ``layout``."""
    order = LAYOUTS[layout]
    stored = torch.randn(*(shape[i] for i in order), **kwargs)
    return stored.permute(*sorted(range(5), key=order.__getitem__))


def shape_list(which: str, batches: List[int]) -> List[Tuple[int, ...]]:
    if which == 'small':
        return [(2, 16, 4, 14, 14), (2, 32, 4, 7, 7), (2, 16, 8, 14, 14)]
    if which == 'memory':
        return [(8, 256, 4, 28, 28)]
    if which == 'stages':
        return [(b, c, 4, h, h) for b in batches for c, h in STAGES]
    shapes = [(b, c, 4, h, h) for b in batches for c, h in STAGES]
    shapes += [(8, c, 16, h, h) for c, h in STAGES]  # the long clip
    return shapes


class Timer:
    """Milliseconds of a function (``torch.utils.benchmark``'s clock): the
    median of the repeats, or with ``statistic='min'`` the fastest; with
    ``'cpu'`` the median CPU time of the process (CPU only): on a shared
    machine a call longer than a scheduler slice is preempted whatever
    the statistic, and only CPU time leaves the other processes out."""

    def __init__(self, warmup: int, repeat: int, statistic: str = 'median'):
        self.warmup, self.repeat, self.statistic = warmup, repeat, statistic

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.statistic == 'cpu':  # the process's CPU time, all threads
            import statistics
            import time
            for _ in range(self.warmup):
                fn()
            times = []
            for _ in range(self.repeat):
                start = time.process_time()
                fn()
                times.append(time.process_time() - start)
            return statistics.median(times) * 1e3
        median, times = median_seconds(fn, self.warmup, self.repeat)
        return (min(times) if self.statistic == 'min' else median) * 1e3


def cpu_peak_extra_bytes(backend: str, shape: Tuple[int, ...], dtype: str,
                         k: int, layout: str = 'standard') -> Tuple[int, int]:
    """Peak resident memory added by one forward call on CPU and by one
    forward + backward (outputs and gradients included), from the RSS
    high-water mark of one fresh process, reset before each."""
    import subprocess
    cmd = [sys.executable, __file__, '--_rss-probe', backend,
           ','.join(map(str, shape)), dtype, str(k), layout]
    # A fixed mmap threshold of one page makes glibc map every tensor on its
    # own and return it on free; its default, adaptive one keeps freed
    # tensors in the heap and would count allocator caching as the op's
    # memory. Below the threshold, a tensor of the call can land in heap
    # memory freed earlier, already resident and not counted: small shapes
    # then measure less than their outputs.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='4096')
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=env)
    fwd, fwd_bwd = out.stdout.split()[-2:]
    return int(fwd), int(fwd_bwd)


def _rss_probe(backend: str, shape: str, dtype: str, k: str,
               layout: str) -> None:
    torch.set_num_threads(1)  # no per-thread scratch in the figure
    shape = tuple(int(v) for v in shape.split(','))
    k = int(k)
    op = naive_frame_aggregation if backend == 'naive' else (
        lambda i, k: frame_aggregation(i, k, backend=backend))
    small = torch.randn(1, 2, shape[2], 4, 4, dtype=DTYPES[dtype],
                        requires_grad=True)
    y, corr = op(small, k)  # warm up: lazy initialisation is not the op's
    (y.sum() + corr.sum()).backward()
    x = make_input(shape, layout, dtype=DTYPES[dtype]).requires_grad_()
    gy = torch.randn_like(x)
    gc = torch.randn(shape[0], k * k, *shape[2:], dtype=x.dtype)
    del y, corr
    # each peak below is its call's, not the imports' nor the other call's
    # (a freed tensor's pages go back to the system: MALLOC_MMAP_THRESHOLD_)
    base = reset_rss_peak()
    with torch.no_grad():
        y, corr = op(x, k)
    fwd = rss_peak_bytes() - base
    del y, corr
    base = reset_rss_peak()
    y, corr = op(x, k)
    grads = torch.autograd.grad((y, corr), x, (gy, gc))  # noqa: F841
    print(fwd, rss_peak_bytes() - base)


def timings(backend: str, x: torch.Tensor,
            k: int) -> Tuple[Callable[[], object], Callable[[], object]]:
    """The forward and the forward + backward of ``backend`` on ``x``."""
    if backend == 'naive':
        op = naive_frame_aggregation
    else:
        def op(i, k):
            return frame_aggregation(i, k, backend=backend)
    n, c, t, h, w = x.shape
    xg = x.detach().requires_grad_()
    gy = torch.randn_like(x)  # in the layout of x
    gc = torch.randn(n, k * k, t, h, w, device=x.device, dtype=x.dtype)

    def fwd():
        with torch.no_grad():
            return op(x, k)

    def fwd_bwd():
        y, corr = op(xg, k)
        return torch.autograd.grad((y, corr), xg, (gy, gc))

    return fwd, fwd_bwd


def bench_one(backend: str, x: torch.Tensor, k: int, timer: Timer,
              ref: Optional[Tuple[torch.Tensor, ...]], layout: str) -> dict:
    fwd, fwd_bwd = timings(backend, x, k)
    res = {'fwd': timer(fwd), 'fwd_bwd': timer(fwd_bwd)}
    if x.is_cuda:
        res['mem_fwd'] = cuda_peak_extra_bytes(fwd, x.device)
        res['mem_fwd_bwd'] = cuda_peak_extra_bytes(fwd_bwd, x.device)
    else:
        dtype = str(x.dtype).replace('torch.', '')
        res['mem_fwd'], res['mem_fwd_bwd'] = cpu_peak_extra_bytes(
            backend, tuple(x.shape), dtype, k, layout)
    if ref is not None:  # sanity check against the torch path
        y, corr = fwd()
        res['diff'] = max((y - ref[0]).abs().max().item(),
                          (corr - ref[1]).abs().max().item())
    return res


def retime(results: dict, x: torch.Tensor, k: int, timer: Timer,
           rounds: int) -> None:
    """``rounds - 1`` more timings of every backend, in alternating order;
    the medians of all rounds replace the first round's times."""
    import statistics
    measured = [b for b, r in results.items() if r is not None]
    times = {b: [(results[b]['fwd'], results[b]['fwd_bwd'])]
             for b in measured}
    for index in range(1, rounds):
        for backend in (measured[::-1] if index % 2 else measured):
            fwd, fwd_bwd = timings(backend, x, k)
            times[backend].append((timer(fwd), timer(fwd_bwd)))
    for backend in measured:
        results[backend]['fwd'] = statistics.median(
            t[0] for t in times[backend])
        results[backend]['fwd_bwd'] = statistics.median(
            t[1] for t in times[backend])


def cpp_target_line(torch_result: dict, cpp_result: dict, layout: str,
                    dtype: str) -> str:
    """The fused CPU kernel's target, as the tool prints it."""
    speedup = torch_result['fwd_bwd'] / cpp_result['fwd_bwd']
    verdict = 'PASS' if speedup >= CPP_TARGET else 'FAIL'
    return (f'Fused CPU kernel forward+backward speed / torch path at '
            f'{CPP_TARGET_SHAPE} ({layout}, {dtype}): {speedup:.2f} '
            f'(target >= {CPP_TARGET:g}): {verdict}')


def shape_label(shape: Tuple[int, ...]) -> str:
    return 'x'.join(map(str, shape))


def fmt(v, spec='.3f', suffix=''):
    return 'n/a' if v is None else f'{v:{spec}}{suffix}'


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--_rss-probe':  # a CPU memory measurement
        return _rss_probe(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cuda',
                        help="'cuda', 'cuda:1' or 'cpu' (default cuda)")
    parser.add_argument('--dtype', default='float32', choices=DTYPES)
    parser.add_argument('--kernel-size', type=int, default=3)
    parser.add_argument('--layout', default='standard', choices=LAYOUTS,
                        help='memory layout of the input: standard '
                        '(contiguous N,C,T,H,W), frames (N,T,C,H,W memory, '
                        "DTF-Net's) or channels_last (N,T,H,W,C, SwinDTF's)")
    parser.add_argument('--shapes', default='dtf',
                        choices=('dtf', 'stages', 'small', 'memory'),
                        help='dtf: DTF-Net R50 16x224 shapes (with a long '
                        'clip); stages: its four stages only; small: tiny '
                        'shapes for a CPU smoke test; memory: the memory '
                        'target shape (C=256, T=4, H=W=28, batch 8)')
    parser.add_argument('--batch', type=int, nargs='+', default=[8, 32],
                        help='batch sizes of the T=4 shapes (default 8 32)')
    parser.add_argument('--backends', nargs='+',
                        default=['cupy', 'cpp', 'torch', 'naive'],
                        choices=BACKEND_ORDER)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--statistic', default='median',
                        choices=('median', 'min', 'cpu'),
                        help='of the repeats: the median, the fastest, or '
                        "(CPU only) the median of the process's CPU time, "
                        'which leaves out the time other processes held '
                        'the cores on a shared machine')
    parser.add_argument('--rounds', type=int, default=1,
                        help='time the backends this many times in '
                        'alternating order and report the medians')
    parser.add_argument('--peak-bw-gbs', type=float, default=None,
                        help='peak memory bandwidth in GB/s (default: from '
                        'the device properties)')
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    k = args.kernel_size
    backends = list(args.backends)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            parser.error('CUDA is not available; use --device cpu')
        if device.index is None:
            device = torch.device('cuda', torch.cuda.current_device())
        torch.cuda.set_device(device)
        peak_bw = args.peak_bw_gbs or peak_bandwidth_gbs(device)
        name = torch.cuda.get_device_name(device)
    else:
        peak_bw = args.peak_bw_gbs
        name = 'CPU'
    if 'cupy' in backends:
        from mmdtf.ops.frame_aggregation.cupy_kernel import \
            cupy_unavailable_reason
        reason = cupy_unavailable_reason(device)
        if reason is not None:
            print(f'# skipping backend cupy: {reason}')
            backends.remove('cupy')
    if 'cpp' in backends:
        from mmdtf.ops.frame_aggregation.cpp_kernel import unavailable_reason
        reason = (unavailable_reason() if device.type == 'cpu' else
                  f'the fused C++ kernel runs on CPU, not {device}')
        if reason is not None:
            print(f'# skipping backend cpp: {reason}')
            backends.remove('cpp')
    if 'torch' not in backends:
        backends.append('torch')  # the ratios are against it
    backends.sort(key=BACKEND_ORDER.index)

    print(f'# device {name}, dtype {args.dtype}, k={k}, layout '
          f'{args.layout}, warm-up {args.warmup}, {args.statistic} of '
          f'{args.repeat}'
          f'{f" (median of {args.rounds} rounds)" if args.rounds > 1 else ""}'
          '; peak bandwidth '
          f'{fmt(peak_bw, ".0f", " GB/s")}')
    print('# mem: peak extra memory / input size (outputs included); '
          'GB/s and %peak: forward, minimum traffic (read x, write y, corr);'
          ' speed-up: torch time / this time')
    cols = ('shape (N,C,T,H,W)', 'backend', 'fwd ms', 'fwd+bwd ms',
            'mem fwd', 'mem f+b', 'GB/s', '%peak', 'fwd x', 'f+b x',
            'max|diff|')
    widths = (22, 7, 9, 10, 8, 8, 8, 6, 6, 6, 9)
    lines = ['  '.join(f'{c:>{w}}' for c, w in zip(cols, widths))]
    timer = Timer(args.warmup, args.repeat, args.statistic)
    shapes = shape_list(args.shapes, args.batch)
    targets = []
    # One updating line on stderr while measuring; the table after it.
    jobs = [(shape, backend) for shape in shapes for backend in backends]
    progress = track(jobs, desc='measuring',
                     label=lambda job: f'{shape_label(job[0])} {job[1]}')
    for shape in shapes:
        torch.manual_seed(0)
        x = make_input(shape, args.layout, device=device, dtype=dtype)
        x_bytes = x.numel() * x.element_size()
        corr_bytes = x_bytes // shape[1] * k * k
        min_bytes = 2 * x_bytes + corr_bytes
        with torch.no_grad():
            ref = frame_aggregation(x, k, backend='torch')
        results = {}
        for backend in backends:
            next(progress)  # names this (shape, backend) on the line
            try:
                results[backend] = bench_one(backend, x, k, timer, ref,
                                             args.layout)
            except torch.cuda.OutOfMemoryError:
                results[backend] = None
                torch.cuda.empty_cache()
        retime(results, x, k, timer, args.rounds)
        base = results.get('torch')
        if (device.type == 'cpu' and tuple(shape) == CPP_TARGET_SHAPE
                and results.get('cpp') and base):
            targets.append(cpp_target_line(base, results['cpp'],
                                           args.layout, args.dtype))
        for backend in backends:
            r = results[backend]
            label = shape_label(shape)
            if r is None:
                lines.append(f'{label:>22}  {backend:>7}  out of memory')
                continue
            gbs = min_bytes / (r['fwd'] * 1e-3) / 1e9
            cells = (label, backend, fmt(r['fwd']), fmt(r['fwd_bwd']),
                     fmt(r['mem_fwd'] and r['mem_fwd'] / x_bytes, '.2f'),
                     fmt(r['mem_fwd_bwd'] and r['mem_fwd_bwd'] / x_bytes,
                         '.2f'),
                     fmt(gbs, '.1f'),
                     fmt(peak_bw and 100 * gbs / peak_bw, '.1f'),
                     fmt(base and base['fwd'] / r['fwd'], '.2f'),
                     fmt(base and base['fwd_bwd'] / r['fwd_bwd'], '.2f'),
                     fmt(r.get('diff'), '.1e'))
            lines.append('  '.join(f'{v:>{w}}'
                                   for v, w in zip(cells, widths)))
        del x, ref, results
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    next(progress, None)  # the end: closes the line
    print('\n'.join(lines + targets))

if __name__ == '__main__':
    main()
