#!/usr/bin/env python
"""Train DTF block variants on an order-only dataset and print a table.

Every variant is the embedded demo's DTF-Net R18 (``configs/demo/
dtf_r18_demo.py``: 25 epochs, 32 px, 16 frames) with only ``dtf_cfg`` (or
``dtf_stages``) changed, trained and tested in this process through
MMEngine's Runner under the config's 10 clips x 3 crops protocol. Top-1 is
recomputed from the dumped scores, with the long-range pair (classes 6/7 of
the demo) reported apart. With ``--diagnose`` each mixing variant also
reports what the mixing issue asks about: top-1 of the same checkpoint with
the mixing's batch norms on batch statistics, gradient norms reaching
``gamma``, the estimator and the mixing, the scale of ``gamma * f'`` against
``x``, and how far the running statistics are from the batch ones.

    python tools/analysis_tools/compare_dtf_variants.py --dataset demo
    python tools/analysis_tools/compare_dtf_variants.py --dataset textures \
        --variants dtf dtf_mix
    python tools/analysis_tools/compare_dtf_variants.py \
        --variants mmdtf paper authors
"""
import argparse
import copy
import json
import pickle
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'demo' / 'dtf_r18_demo.py'

#: name -> (paper row, overrides of ``model.backbone``)
VARIANTS = {
    # the three named blocks (`dtf_cfg.variant`, docs/models/dtf_blocks.md);
    # the demo config's explicit options are unset, the variant fixes them
    'mmdtf': ("the 'mmdtf' block (the default)", dict(dtf_cfg=dict(
        variant='mmdtf', channel_mixing=None, estimator_norm=None))),
    'paper': ("the 'paper' block (raw estimator input, no mixing)", dict(
        dtf_cfg=dict(variant='paper', channel_mixing=None,
                     estimator_norm=None))),
    'authors': ("the 'authors' block (their code)", dict(dtf_cfg=dict(
        variant='authors', channel_mixing=None, estimator_norm=None))),
    '2d': ('2D (C2D, no DTF)', dict(dtf_stages=(False,) * 4)),
    # None unsets an option the variant does not read (DTFBlock refuses it)
    'dtf1d': ('DTF_1d (temporal conv)', dict(dtf_cfg=dict(
        filter_type='conv1d', group_factor=None, use_corr=None,
        channel_mixing=None, estimator_norm=None))),
    'dtf1d_plus': ('DTF_1d+ (dynamic temporal conv)', dict(dtf_cfg=dict(
        filter_type='dynamic_conv1d', channel_mixing=None))),
    'dtff': ('DTF_F (static spectral filter)', dict(dtf_cfg=dict(
        filter_type='static', group_factor=None, use_corr=None,
        channel_mixing=False, estimator_norm=None))),
    'dtff_mix': ('DTF_F + mixing (no norm)', dict(dtf_cfg=dict(
        filter_type='static', group_factor=None, use_corr=None,
        channel_mixing=True, estimator_norm=None))),
    'dtf': ('DTF, no mixing (the default block)', dict(dtf_cfg=dict(
        channel_mixing=False))),
    'dtf_mix': ('DTF + mixing, batch norm per part', dict(dtf_cfg=dict(
        channel_mixing=dict(norm='batch')))),
    'dtf_mix_rawest': ('DTF + mixing, batch norm per part, estimator on the '
                       'raw feature (the old paper-config block)', dict(
                           dtf_cfg=dict(channel_mixing=dict(norm='batch'),
                                        estimator_norm='none'))),
    'dtf_mix_ref': ('DTF + mixing as the reference (shared-part batch norm,'
                    ' randn*0.02 init, estimator on the raw feature)', dict(
                        dtf_cfg=dict(channel_mixing=dict(
                            norm='batch_shared', init='random'),
                            estimator_norm='none'))),
    'dtf_mix_nonorm': ('DTF + mixing, no norm', dict(
        dtf_cfg=dict(channel_mixing=dict(norm='none')))),
    'dtf_rawest': ('DTF, no mixing, estimator on the raw feature (the old '
                   'demo block)', dict(dtf_cfg=dict(channel_mixing=False,
                                                   estimator_norm='none'))),
    'dtf_mix_nonorm_rawest': ('DTF + mixing, no norm, estimator on the raw '
                              'feature', dict(dtf_cfg=dict(
                                  channel_mixing=dict(norm='none'),
                                  estimator_norm='none'))),
    'dtf_nofa': ('DTF, no FA (no aggregation, no correlation)', dict(
        dtf_cfg=dict(aggregate=False, use_corr=False, channel_mixing=False))),
    'dtf_fa_nocorr': ('DTF, FA without correlation', dict(dtf_cfg=dict(
        use_corr=False, channel_mixing=False))),
    'dtf_corr_nofa': ('DTF, correlation without aggregation', dict(
        dtf_cfg=dict(aggregate=False, channel_mixing=False))),
}
DATASETS = ('demo', 'textures')


def make_dataset(kind: str, root: Path, seed: int) -> dict:
    from mmdtf.datasets import synthetic
    make = {'demo': synthetic.make_demo_dataset,
            'textures': synthetic.make_texture_order_dataset}[kind]
    return make(root, seed=seed, check=True)


def variant_config(name: str, data_root: Path, work_dir: Path, epochs: int,
                   train_seed: int = 0):
    from mmengine.config import Config
    cfg = Config.fromfile(str(CONFIG))
    backbone = cfg.model.backbone
    overrides = copy.deepcopy(VARIANTS[name][1])
    dtf_cfg = overrides.pop('dtf_cfg', {})
    backbone.dtf_cfg = dict(backbone.dtf_cfg)
    backbone.dtf_cfg.update(dtf_cfg)
    backbone.update(overrides)
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        dataset = cfg[f'{split}_dataloader'].dataset
        dataset.ann_file = str(data_root / f'{ann}_list.txt')
        dataset.data_prefix = dict(video=str(data_root / 'videos'))
    if epochs != cfg.train_cfg.max_epochs:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
        cfg.param_scheduler[1].T_max = max(epochs - 1, 1)
        cfg.param_scheduler[1].end = epochs
        cfg.default_hooks.checkpoint.interval = epochs
    classes = (data_root / 'classes.txt').read_text().split()
    cfg.model.cls_head.num_classes = len(classes)
    cfg.test_evaluator = [dict(type='AccMetric'), dict(
        type='DumpResults', out_file_path=str(work_dir / 'scores.pkl'))]
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=train_seed)
    cfg.default_hooks.logger.interval = 20
    cfg.log_level = 'WARNING'
    return cfg


#: the long-range order pair of each dataset (the flash / event classes)
LONG_RANGE_PAIR = {'demo': (6, 7), 'textures': (4, 5)}


def accuracy(dump: Path, pair=(6, 7)) -> dict:
    """Top-1 recomputed from the dumped (averaged 10 x 3) scores."""
    with open(dump, 'rb') as f:
        results = pickle.load(f)
    scores = np.stack([np.asarray(r['pred_score']) for r in results])
    labels = np.array([int(np.asarray(r['gt_label']).reshape(-1)[0])
                       for r in results])
    # a video whose scores overflowed counts as wrong (argmax of NaNs is 0)
    finite = np.isfinite(scores).all(1)
    right = (scores.argmax(1) == labels) & finite
    in_pair = np.isin(labels, pair)
    return dict(top1=float(right.mean()), pair=float(right[in_pair].mean()),
                num=len(labels), nonfinite=int((~finite).sum()))


class Diagnostics:
    """Forward/backward hooks on every DTF block of a model."""

    def __init__(self, model):
        from mmdtf.models.blocks import DTFBlock
        self.blocks = [m for m in model.modules() if isinstance(m, DTFBlock)]
        self.grad = defaultdict(list)
        self.ratio = []
        self.handles = [b.register_forward_hook(self._forward)
                        for b in self.blocks]

    def _forward(self, block, inputs, output):
        if not block.training:
            return
        x = inputs[0].detach()
        self.ratio.append(float((output.detach() - x).std() / x.std()))

    def after_backward(self):
        for block in self.blocks:
            self.grad['gamma'].append(float(block.gamma.grad.norm()))
            est = getattr(block.filter, 'estimator', None)
            if est is not None and est.weight.grad is not None:
                self.grad['estimator'].append(float(est.weight.grad.norm()))
            mixing = getattr(block.filter, 'mixing', None)
            if mixing is not None and mixing.weight_real.grad is not None:
                self.grad['mixing'].append(float(torch.sqrt(
                    mixing.weight_real.grad.norm()**2 +
                    mixing.weight_imag.grad.norm()**2)))

    def summary(self) -> dict:
        out = {f'grad_{k}': float(np.median(v)) for k, v in self.grad.items()}
        if self.ratio:
            out['update_over_x'] = float(np.median(self.ratio[-200:]))
        return out


def norm_gap_hooks(model):
    """Record, for each mixing norm, |batch mean - running mean| / running
    std and batch var / running var, averaged over channels."""
    from torch import nn
    gaps = defaultdict(list)

    def hook(norm, inputs, output):
        if not norm.training or norm.running_var is None:
            return
        x = inputs[0].detach().transpose(0, 1).flatten(1).double()
        mean, var = x.mean(1), x.var(1, unbiased=False)
        rstd = norm.running_var.double().clamp_min(1e-12).sqrt()
        gaps['mean'].append(float(((mean - norm.running_mean) / rstd)
                                  .abs().mean()))
        gaps['var'].append(float((var / norm.running_var.double()
                                  .clamp_min(1e-12)).log().abs().mean()))

    handles = []
    for name, module in model.named_modules():
        if name.endswith('mixing.norm') and isinstance(module,
                                                       nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_hook(hook))
    return gaps, handles


def evaluate_with_batch_stats(runner) -> float:
    """Top-1 of the trained model on the val split (1 clip, batch 8) with
    the mixing norms on batch statistics (train mode), everything else as
    in eval; and with running statistics, for comparison."""
    from torch import nn
    model = runner.model
    loader = runner.build_dataloader(runner.cfg.val_dataloader)
    norms = [m for n, m in model.named_modules()
             if n.endswith('mixing.norm') and isinstance(
                 m, nn.modules.batchnorm._BatchNorm)]
    out = {}
    for mode in ('running', 'batch'):
        model.eval()
        saved = [(n.running_mean.clone(), n.running_var.clone())
                 for n in norms]
        if mode == 'batch':
            for n in norms:
                n.train()
        right = total = 0
        with torch.no_grad():
            for data in loader:
                preds = model.test_step(data)
                for p in preds:
                    right += int(p.pred_score.argmax() == p.gt_label.item())
                    total += 1
        for n, (m, v) in zip(norms, saved):
            n.running_mean.copy_(m)
            n.running_var.copy_(v)
        out[mode] = right / total
    model.eval()
    return out


def run_variant(name: str, dataset: str, data_root: Path, work_root: Path,
                epochs: int, diagnose: bool, train_seed: int = 0) -> dict:
    from mmengine.runner import Runner

    from mmdtf.utils.progress import runner_progress_hook
    work_dir = work_root / (name if train_seed == 0 else
                            f'{name}_seed{train_seed}')
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg = variant_config(name, data_root, work_dir, epochs, train_seed)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(runner_progress_hook(name))
    diag = gaps = None
    if diagnose:
        diag = Diagnostics(runner.model)
        gaps, _ = norm_gap_hooks(runner.model)

        from mmengine.hooks import Hook

        class RecordGradients(Hook):
            """Gradients are zeroed inside the optimizer wrapper's update:
            read them just before its step."""

            def before_train(self, runner):
                wrapper = runner.optim_wrapper
                step = wrapper.step

                def step_and_record(*args, **kwargs):
                    diag.after_backward()
                    return step(*args, **kwargs)
                wrapper.step = step_and_record

        runner.register_hook(RecordGradients())
    t0 = time.time()
    runner.train()
    train_s = time.time() - t0
    runner.test()
    result = accuracy(work_dir / 'scores.pkl', LONG_RANGE_PAIR[dataset])
    row = VARIANTS[name][0] + (f', training seed {train_seed}'
                               if train_seed else '')
    result.update(name=name, row=row, seconds=time.time() - t0,
                  train_seconds=train_s)
    if diagnose:
        result.update(diag.summary())
        if gaps and gaps['mean']:
            result['norm_mean_gap'] = float(np.mean(gaps['mean'][-100:]))
            result['norm_logvar_gap'] = float(np.mean(gaps['var'][-100:]))
            result['val_top1_by_stats'] = evaluate_with_batch_stats(runner)
    (work_dir / 'result.json').write_text(json.dumps(result, indent=2))
    return result


def print_table(results, dataset: str) -> None:
    print(f'\n| variant ({dataset}) | top-1 (10x3) | long-range pair | '
          'videos with non-finite scores | train + test |\n'
          '|---|---|---|---|---|')
    for r in results:
        print(f"| {r['row']} | {100 * r['top1']:.1f}% | "
              f"{100 * r['pair']:.1f}% | {r['nonfinite']} / {r['num']} | "
              f"{r['seconds']:.0f} s |")
    diag = [r for r in results if 'grad_gamma' in r]
    if diag:
        print('\n| variant | val top-1 running / batch stats | |gamma grad| '
              '| |estimator grad| | |mixing grad| | std(gamma f\')/std(x) '
              '| norm mean gap / log-var gap |\n|---|---|---|---|---|---|---|')
        for r in diag:
            stats = r.get('val_top1_by_stats')
            stats = (f"{100 * stats['running']:.1f}% / "
                     f"{100 * stats['batch']:.1f}%" if stats else '-')
            gap = (f"{r['norm_mean_gap']:.2f} / {r['norm_logvar_gap']:.2f}"
                   if 'norm_mean_gap' in r else '-')
            print(f"| {r['name']} | {stats} | {r.get('grad_gamma', 0):.3g} | "
                  f"{r.get('grad_estimator', float('nan')):.3g} | "
                  f"{r.get('grad_mixing', float('nan')):.3g} | "
                  f"{r.get('update_over_x', float('nan')):.3g} | {gap} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', choices=DATASETS, default='demo')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument('--data-root', default=None,
                        help='default: data/<dataset>')
    parser.add_argument('--work-dir', default='work_dirs/dtf_variants')
    parser.add_argument('--epochs', type=int, default=25)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the generated dataset')
    parser.add_argument('--train-seed', type=int, default=0,
                        help='randomness.seed of training (the demo '
                        "config's is 0)")
    parser.add_argument('--diagnose', action='store_true')
    args = parser.parse_args(argv)
    if args.epochs < 2:  # the demo recipe: 1 warm-up epoch, then cosine
        parser.error(f'--epochs must be at least 2, got {args.epochs}')

    import mmdtf  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    data_root = Path(args.data_root or REPO / 'data' / args.dataset)
    if not (data_root / 'train_list.txt').exists():
        make_dataset(args.dataset, data_root, args.seed)
    work_root = Path(args.work_dir) / args.dataset
    results = []
    for i, name in enumerate(args.variants):
        print(f'[{i + 1}/{len(args.variants)}] {name}: training', flush=True)
        results.append(run_variant(name, args.dataset, data_root, work_root,
                                   args.epochs, args.diagnose,
                                   args.train_seed))
        r = results[-1]
        print(f"[{i + 1}/{len(args.variants)}] {name}: top-1 "
              f"{100 * r['top1']:.1f}%, pair {100 * r['pair']:.1f}% "
              f"({r['seconds']:.0f} s)", flush=True)
    print_table(results, args.dataset)
    return results


if __name__ == '__main__':
    main()
