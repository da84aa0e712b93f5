"""Run the embedded demo: data, then `mim train` and `mim test` per model.

Writes the synthetic temporal-order dataset (tools/data/make_demo_dataset.py),
trains TSN (2D, no temporal modelling), C2D (DTF blocks off) and DTF-Net of
the same depth with ``mim train mmaction2 ... --gpus 0``, tests each with
``mim test mmaction2`` under the configs' 10 clips x 3 crops protocol, and
prints top-1 accuracy per model.

    python tools/demo/run_demo.py               # all three models
    python tools/demo/run_demo.py --models dtf  # one of them
    python tools/demo/run_demo.py --check       # exit 1 unless DTF > 90% > C2D

While `mim` runs, one line shows the epoch, iteration, loss and MMEngine's
eta (updated in place on a terminal, every 30 s in a log); the full output
of each command goes to the log file printed above it.
"""
import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from mmdtf.datasets.synthetic import make_demo_dataset  # noqa: E402
from mmdtf.utils.logged_run import logged_run  # noqa: E402

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


def train_and_test(name: str, work_root: Path, options: list) -> float:
    _, config = MODELS[name]
    work_dir = work_root / name
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg_options = ['--cfg-options', *options] if options else []
    logged_run(['mim', 'train', 'mmaction2', config, '--gpus', '0',
                '--work-dir', str(work_dir), *cfg_options],
               work_dir / 'mim_train.log', cwd=REPO)
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    # --dump: the averaged 10 x 3 scores of every video, to check top-1 by
    out = logged_run(['mim', 'test', 'mmaction2', config, '--gpus', '0',
                      '--checkpoint', checkpoint, '--work-dir',
                      str(work_dir / 'test'), '--dump',
                      str(work_dir / 'test' / 'scores.pkl'), *cfg_options],
                     work_dir / 'mim_test.log', cwd=REPO)
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
    summary = make_demo_dataset(REPO / args.data_root, seed=args.seed,
                                check=True)
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
