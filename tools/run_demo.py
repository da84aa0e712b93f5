"""Run the embedded demo: data, then `mim train` and `mim test` per model.

Writes the synthetic temporal-order dataset (tools/make_demo_dataset.py),
trains TSN (2D, no temporal modelling), C2D (DTF blocks off) and DTF-Net of
the same depth with ``mim train mmaction2 ... --gpus 0``, tests each with
``mim test mmaction2`` under the configs' 10 clips x 3 crops protocol, and
prints top-1 accuracy per model.

    python tools/run_demo.py                 # all three models
    python tools/run_demo.py --models dtf    # one of them
    python tools/run_demo.py --check         # exit 1 unless DTF > 90% > C2D

While `mim` runs, one line shows the epoch, iteration, loss and MMEngine's
eta (updated in place on a terminal, every 30 s in a log); the full output
of each command goes to the log file printed above it.
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from mmdtf.utils.progress import (ProgressLine, describe,  # noqa: E402
                                  parse_mmengine_line)
from mmdtf.utils.quiet_warnings import PKG_RESOURCES_ENV  # noqa: E402

MODELS = {
    'tsn': ('TSN R18 (2D, per-frame)', 'configs/demo/tsn_r18_demo.py'),
    'c2d': ('C2D R18 (DTF off)', 'configs/demo/c2d_r18_demo.py'),
    'dtf': ('DTF-Net R18', 'configs/demo/dtf_r18_demo.py'),
    'tin': ('TIN R18', 'configs/demo/tin_r18_demo.py'),
    'tsn_tcp': ('TSN R18 + TCP', 'configs/demo/tsn_tcp_r18_demo.py'),
    'c2d_tcp': ('C2D R18 + TCP', 'configs/demo/c2d_tcp_r18_demo.py'),
    'dtf_tcp': ('DTF-Net R18 + TCP', 'configs/demo/dtf_tcp_r18_demo.py'),
}
TOP1 = re.compile(r'acc/top1:\s*([0-9.]+)')


def make_dataset(root: Path, seed: int) -> dict:
    spec = importlib.util.spec_from_file_location(
        'make_demo_dataset', REPO / 'tools' / 'make_demo_dataset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_demo_dataset(root, seed=seed, check=True)


def run(cmd: list, log: Path) -> str:
    """Run `cmd` from the repo root, its output to `log`, showing one line
    of progress (epoch, iteration, loss) parsed from MMEngine's log lines as
    they stream; fail loudly with the log's tail."""
    print('$', ' '.join(cmd), flush=True)
    print(f'  full log: {log}', flush=True)  # progress: on stderr
    env = dict(os.environ)
    # `mim` and MMEngine's config parsing warn before mmdtf is imported.
    env['PYTHONWARNINGS'] = ','.join(
        w for w in (env.get('PYTHONWARNINGS'), PKG_RESOURCES_ENV) if w)
    line = ProgressLine()
    lines = []
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        for text in proc.stdout:
            f.write(text)
            f.flush()
            lines.append(text)
            info = parse_mmengine_line(text)
            if info is not None:
                line.update('  ' + describe(info))
        returncode = proc.wait()
    line.close()
    output = ''.join(lines)
    if returncode:
        tail = '\n'.join(output.splitlines()[-40:])
        raise SystemExit(f'command failed (exit {returncode}), log in '
                         f'{log}:\n{tail}')
    return output


def train_and_test(name: str, work_root: Path, options: list) -> float:
    _, config = MODELS[name]
    work_dir = work_root / name
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg_options = ['--cfg-options', *options] if options else []
    run(['mim', 'train', 'mmaction2', config, '--gpus', '0', '--work-dir',
         str(work_dir), *cfg_options], work_dir / 'mim_train.log')
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    # --dump: the averaged 10 x 3 scores of every video, to check top-1 by
    out = run(['mim', 'test', 'mmaction2', config, '--gpus', '0',
               '--checkpoint', checkpoint, '--work-dir',
               str(work_dir / 'test'), '--dump',
               str(work_dir / 'test' / 'scores.pkl'), *cfg_options],
              work_dir / 'mim_test.log')
    found = TOP1.findall(out)
    if not found:
        raise SystemExit(f'no acc/top1 in the output of mim test for {name}; '
                         f'see {work_dir / "mim_test.log"}')
    return float(found[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', choices=list(MODELS),
                        default=list(MODELS))
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='passed to mim train and mim test, e.g. '
                        'train_cfg.max_epochs=2')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 unless DTF top-1 > 0.9 and > C2D')
    args = parser.parse_args(argv)

    start = time.time()
    summary = make_dataset(REPO / args.data_root, args.seed)
    print(f"dataset: {summary['root']}, {summary['num_train']} train / "
          f"{summary['num_val']} val videos, {len(summary['classes'])} classes"
          f" (chance {1 / len(summary['classes']):.3f})", flush=True)
    options = list(args.cfg_options)
    if args.data_root != 'data/demo':
        root = args.data_root
        for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
            options += [f'{split}_dataloader.dataset.ann_file={root}/{ann}_list.txt',
                        f'{split}_dataloader.dataset.data_prefix.video={root}/videos']

    work_root = REPO / args.work_dir
    results = {}
    for name in args.models:
        t0 = time.time()
        results[name] = train_and_test(name, work_root, options)
        print(f'{MODELS[name][0]}: top-1 {results[name]:.4f} '
              f'({time.time() - t0:.0f} s)', flush=True)

    print('\n| model | top-1 (10 clips x 3 crops) |\n|---|---|')
    for name, top1 in results.items():
        print(f'| {MODELS[name][0]} | {100 * top1:.1f}% |')
    print(f'\ntotal {time.time() - start:.0f} s')
    (work_root / 'results.json').write_text(json.dumps(results, indent=2))

    if args.check:
        dtf, c2d = results.get('dtf'), results.get('c2d')
        ok = dtf is not None and dtf > 0.9 and (c2d is None or dtf > c2d)
        if not ok:
            print(f'check failed: DTF {dtf}, C2D {c2d}', file=sys.stderr)
            sys.exit(1)
    return results


if __name__ == '__main__':
    main()
