"""Time DTF's spectral modulation ``iDFT(DFT(y) * H)`` at DTF-Net R50's
block shapes: the fused CPU kernel (``mmdtf::spectral_modulation``, what
the blocks run on CPU) against the PyTorch path (matrix products, what
other devices run), forward and forward + backward, in one process.

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_spectral_modulation.py --threads 1

Rounds alternate the two paths' order, so the machine's drift affects both
alike; each figure is the fastest of ``--repeat`` calls in its best round.
The last row sums DTF-Net R50's 16 blocks (3, 4, 6 and 3 per stage).
"""
import argparse
import time
from typing import Callable, Dict, List, Tuple

import torch

from mmdtf.models.blocks.spectral_modulation import (_modulated,
                                                     spectral_modulation_op)
from mmdtf.ops import spectral_modulation_cpu

#: DTF-Net R50 at 16 x 224^2 (T = 4 at the blocks): channels, side, blocks
R50_STAGES = ((64, 56, 3), (128, 28, 4), (256, 14, 6), (512, 7, 3))
PATHS = ('fused', 'torch')


def make_inputs(batch: int, channels: int, side: int, frames: int,
                group_factor: int):
    """``y`` as ResNetDTF stores it, the filter as the estimator gives it,
    and a gradient."""
    bins = frames // 2 + 1
    groups = channels // group_factor
    y = torch.randn(batch, frames, channels, side, side).transpose(1, 2)
    estimated = torch.randn(batch, 2 * groups * bins, side, side)
    grad = torch.randn(batch, frames, channels, side, side).transpose(1, 2)
    return y.requires_grad_(True), estimated.requires_grad_(True), grad


def path_calls(y, estimated, grad) -> Dict[str, Tuple[Callable, Callable]]:
    """(forward, forward + backward) of each path."""
    n, _, frames, h, w = y.shape
    filt = estimated.view(n, 2, -1, 1, frames // 2 + 1, h, w)

    def run(path: str):
        fn = spectral_modulation_op if path == 'fused' else (
            lambda *a: _modulated(*a, 'matmul'))

        def forward():
            with torch.no_grad():
                fn(y, filt[:, 0], filt[:, 1])

        def forward_backward():
            torch.autograd.grad(fn(y, filt[:, 0], filt[:, 1]),
                                (y, estimated), grad)

        return forward, forward_backward

    return {path: run(path) for path in PATHS}


def fastest_ms(fn: Callable, warmup: int, repeat: int) -> float:
    for _ in range(warmup):
        fn()
    best = float('inf')
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def measure(stages, batch: int, frames: int, group_factor: int,
            warmup: int, repeat: int, rounds: int) -> List[dict]:
    rows = []
    for channels, side, blocks in stages:
        calls = path_calls(*make_inputs(batch, channels, side, frames,
                                        group_factor))
        best = {(p, k): float('inf') for p in PATHS for k in range(2)}
        for r in range(rounds):
            for path in (PATHS if r % 2 == 0 else PATHS[::-1]):
                for k in range(2):
                    best[path, k] = min(best[path, k], fastest_ms(
                        calls[path][k], warmup, repeat))
        rows.append(dict(channels=channels, side=side, blocks=blocks,
                         **{f'{p}_{k}': best[p, k] for p in PATHS
                            for k in range(2)}))
    return rows


def format_table(rows: List[dict], batch: int, frames: int) -> str:
    lines = [
        f'| (N, C, T, H, W) | fused fwd ms | torch fwd ms | speed-up | '
        f'fused fwd+bwd ms | torch fwd+bwd ms | speed-up |',
        '|---|---|---|---|---|---|---|'
    ]
    total = {key: 0. for key in ('fused_0', 'torch_0', 'fused_1', 'torch_1')}
    for row in rows:
        for key in total:
            total[key] += row[key] * row['blocks']
        lines.append(_line(
            f'{batch}, {row["channels"]}, {frames}, {row["side"]}, '
            f'{row["side"]}', row))
    lines.append(_line(f'the {sum(r["blocks"] for r in rows)} blocks',
                       total))
    return '\n'.join(lines)


def _line(label: str, v: dict) -> str:
    return (f'| {label} | {v["fused_0"]:.3f} | {v["torch_0"]:.3f} | '
            f'{v["torch_0"] / v["fused_0"]:.2f}x | {v["fused_1"]:.3f} | '
            f'{v["torch_1"]:.3f} | {v["torch_1"] / v["fused_1"]:.2f}x |')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--frames', type=int, default=4,
                        help='T at the blocks (16-frame clips: 4)')
    parser.add_argument('--group-factor', type=int, default=16,
                        help='dtf_cfg.group_factor of the model')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch\'s)')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reason = spectral_modulation_cpu.EXTENSION.unavailable_reason()
    if reason is not None:
        raise SystemExit('benchmark_spectral_modulation: the fused CPU '
                         f'kernel cannot be built here: {reason}')
    rows = measure(R50_STAGES, args.batch, args.frames, args.group_factor,
                   args.warmup, args.repeat, args.rounds)
    table = format_table(rows, args.batch, args.frames)
    print(f'CPU, {torch.get_num_threads()} thread(s); fastest of '
          f'{args.repeat} calls, best of {args.rounds} alternating rounds')
    print(table)
    return table


if __name__ == '__main__':
    main()
