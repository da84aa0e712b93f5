#!/usr/bin/env python
"""Coarse-Fine detection demo: uniform subsampling vs Grid Pool vs full
Coarse-Fine at equal coarse length K, per-frame mAP (Charades protocol).

Steps (each a ``mim train`` of a config in configs/coarse_fine/demo/, which
tests on the val split after its last epoch):

1. data: tools/data/make_detection_demo_dataset.py (fixed seed);
2. (a) uniform: coarse stream, K + 1 evenly spaced frames after layer1;
3. (b) grid: the same with Grid Pool;
4. fine: the fine stream (all frames), then tools/data/extract_fine_features.py
   with its checkpoint (frozen) -> <work-dir>/fine_features;
5. (c) coarse-fine: Grid Pool + Multi-stage Fusion of those features.

    python tools/demo/run_coarse_fine_demo.py
    python tools/demo/run_coarse_fine_demo.py --variants grid   # one run

Every variant is tested at its training frame rate (each validation video
whole, every frame). ``--frames 64`` makes the videos twice as long as the
32-frame training clips and ``--spread-test`` tests each trained model a
second time with the 32-frame clip spread over the whole video (half the
training rate), the other column of the frame-rate table in
docs/models/coarse_fine.md.
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

from mmdtf.datasets.synthetic import make_detection_demo_dataset
from mmdtf.utils.logged_run import logged_run

REPO = Path(__file__).resolve().parents[2]
DEMO = 'configs/coarse_fine/demo'
VARIANTS = {
    'uniform': ('(a) coarse, uniform subsampling',
                f'{DEMO}/uniform_x3d-tiny_demo.py'),
    'grid': ('(b) coarse, Grid Pool', f'{DEMO}/grid_pool_x3d-tiny_demo.py'),
    'fine': ('fine stream (all frames, no pooling)',
             f'{DEMO}/fine_stream_x3d-tiny_demo.py'),
    'coarse-fine': ('(c) Coarse-Fine (Grid Pool + fusion)',
                    f'{DEMO}/coarse_fine_x3d-tiny_demo.py'),
}
MAP = re.compile(r'charades/mAP:\s*([0-9.]+)')


def run(cmd, log: Path) -> str:
    # One thread unless told otherwise: these convolutions are tiny, and on
    # a busy machine two OpenMP threads were 25x slower than one.
    return logged_run(cmd, log, cwd=REPO, env=dict(
        OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1')))


def data_options(data: Path, features) -> list:
    opts = [f'data_root={data}']
    for split, csv in (('train', 'train.csv'), ('val', 'val.csv'),
                       ('test', 'val.csv')):
        opts += [f'{split}_dataloader.dataset.ann_file={data / csv}',
                 f'{split}_dataloader.dataset.data_prefix.img={data / "rgb"}']
        if features:
            opts.append(f'{split}_dataloader.dataset.fine_feature_prefix='
                        f'{features}')
    return opts


def last_map(out: str, log: Path) -> float:
    found = MAP.findall(out)
    if not found:
        raise SystemExit(f'no charades/mAP in {log}')
    return float(found[-1])


def train(name: str, data: Path, work: Path, extra: list,
          spread_test: bool) -> dict:
    """mim train (which tests at the training frame rate after its last
    epoch), and with ``spread_test`` a mim test of its checkpoint with the
    clip spread over each whole video."""
    config = VARIANTS[name][1]
    work_dir = work / name
    work_dir.mkdir(parents=True, exist_ok=True)
    options = [*data_options(data, name == 'coarse-fine'
                             and work / 'fine_features'), *extra]
    log = work_dir / 'mim_train.log'
    out = run(['mim', 'train', 'mmaction2', config, '--gpus', '0',
               '--work-dir', str(work_dir), '--cfg-options', *options], log)
    result = dict(interval=last_map(out, log))
    if spread_test:
        ckpt = max(work_dir.glob('epoch_*.pth'),
                   key=lambda f: int(f.stem.split('_')[1]))
        log = work_dir / 'mim_test_spread.log'
        out = run(['mim', 'test', 'mmaction2', config, '--gpus', '0',
                   '--checkpoint', str(ckpt), '--work-dir', str(work_dir),
                   '--cfg-options', *options,
                   'test_dataloader.dataset.pipeline.0.test_sampling=spread'],
                  log)
        result['spread'] = last_map(out, log)
    return result


def random_scores_map(data: Path, seeds: int = 20) -> float:
    """Chance: CharadesMAP of uniform random scores at every frame of the
    validation videos, averaged over ``seeds`` draws."""
    import numpy as np
    import torch

    import mmdtf  # noqa: F401  (registers our modules)
    from mmdtf.datasets import CharadesDataset
    from mmdtf.evaluation import CharadesMAP
    dataset = CharadesDataset(str(data / 'val.csv'), [], num_classes=4,
                              data_prefix=dict(img=str(data / 'rgb')),
                              test_mode=True)
    videos = [dataset.get_data_info(i) for i in range(len(dataset))]
    maps = []
    for seed in range(seeds):
        rng = np.random.RandomState(seed)
        metric = CharadesMAP()
        for v in videos:
            metric.process(None, [dict(
                pred_frame_scores=torch.tensor(rng.rand(
                    4, v['total_frames'])),
                frame_times=np.arange(v['total_frames']) / v['fps'],
                duration=v['duration'], actions=v['actions'])])
        maps.append(metric.compute_metrics(metric.results)['mAP'])
    return float(np.mean(maps))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='data/detection_demo')
    p.add_argument('--work-dir', default='work_dirs/coarse_fine_demo')
    p.add_argument('--variants', nargs='+', default=list(VARIANTS),
                   choices=list(VARIANTS))
    p.add_argument('--cfg-options', nargs='*', default=[],
                   help='extra options for every mim train')
    p.add_argument('--frames', type=int, default=32,
                   help='frames per generated video (the clips have 32)')
    p.add_argument('--num-val', type=int, default=16,
                   help='validation videos generated')
    p.add_argument('--spread-test', action='store_true',
                   help='also test with the clip spread over each video')
    args = p.parse_args(argv)
    data, work = (REPO / args.data).resolve(), (REPO / args.work_dir).resolve()
    if not (data / 'train.csv').exists():
        print(make_detection_demo_dataset(data, frames=args.frames,
                                          num_val=args.num_val), flush=True)
    results = {}
    for name in args.variants:
        if name == 'coarse-fine':
            ckpts = sorted((work / 'fine').glob('epoch_*.pth'))
            if not ckpts:
                raise SystemExit('coarse-fine needs the fine stream first: '
                                 'run with --variants fine coarse-fine')
            for split in ('train', 'val'):
                run([sys.executable, 'tools/data/extract_fine_features.py',
                     VARIANTS['fine'][1], str(ckpts[-1]),
                     str(work / 'fine_features'), '--stride', '1',
                     '--spatial-size', '1', '--device', 'cpu',
                     '--ann-file', str(data / f'{split}.csv'),
                     '--data-prefix', str(data / 'rgb')],
                    work / f'extract_{split}.log')
        results[name] = train(name, data, work, args.cfg_options,
                              args.spread_test)
        print(f'{VARIANTS[name][0]}: per-frame mAP {results[name]}',
              flush=True)
    chance = random_scores_map(data)
    columns = list(results[args.variants[0]])
    print('\n| variant | ' + ' | '.join(
        f'per-frame mAP (%), test clip {c}' for c in columns) + ' |')
    print('|---' * (len(columns) + 1) + '|')
    print('| random scores (chance, mean of 20 draws) | ' + ' | '.join(
        f'{100 * chance:.1f}' for _ in columns) + ' |')
    for name, value in results.items():
        print(f'| {VARIANTS[name][0]} | ' + ' | '.join(
            f'{100 * value[c]:.1f}' for c in columns) + ' |')
    (work / 'results.json').write_text(json.dumps(
        dict(results, random_scores=chance), indent=1))
    return results


if __name__ == '__main__':
    main()
