"""Mutation check: semantic mutants of the op, the block, the mixing and the
backbone wiring, each of which some test must kill.

Each mutant is one or more exact-string replacements in a source file. The
script copies the repository to a temporary directory, runs the unmutated
copy's tests once (they must pass: a failing baseline would "kill" every
mutant), then, per mutant, applies its replacements to a fresh copy of the
file (each ``old`` string must occur exactly once, so a refactor that moves
the code makes this script fail loudly instead of passing vacuously), runs
the mutant's tests with ``-x`` and records the first failing test. It exits
non-zero if any mutant survives or does not apply.

Usage::

    python tools/dev/mutation_check.py             # every mutant
    python tools/dev/mutation_check.py --list      # the table
    python tools/dev/mutation_check.py --check-targets  # targets apply? (fast)
    python tools/dev/mutation_check.py -m fa_half_accumulation no_aggregation

When code moves (e.g. a file is split or renamed), retarget the
``file`` and ``old`` strings in MUTANTS below; nothing else changes.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]

BLOCK_TESTS = ['tests/models/blocks/test_dtf_block_reference.py']
WIRING_TESTS = ['tests/models/backbones/test_dtf_wiring_reference.py']

# name: (what it breaks, file, [(old, new), ...], tests to run)
MUTANTS: Dict[str, Tuple[str, str, List[Tuple[str, str]], List[str]]] = {
    'corr_zeroed': (
        'the filter estimator gets zeros instead of the FA correlation',
        'mmdtf/models/blocks/dtf_block.py',
        [('corr if self.use_corr else None)',
          'torch.zeros_like(corr) if self.use_corr else None)')],
        BLOCK_TESTS),
    'estimator_rms_per_clip': (
        'the estimator input normalised once per clip, not per location',
        'mmdtf/models/blocks/estimator_input.py',
        [('mean(dim=(1, 2), keepdim=True)',
          'mean(dim=(1, 2, 3, 4), keepdim=True)')],
        BLOCK_TESTS),
    'estimator_corr_unscaled': (
        'the correlation fed to the estimator without the rms scaling',
        'mmdtf/models/blocks/estimator_input.py',
        [('corr = corr * inv_rms.square().to(corr.dtype)', 'pass')],
        BLOCK_TESTS),
    'mixing_imag_negated': (
        'the imaginary part of the complex channel mixing negated (the '
        'mixing is conjugated)',
        'mmdtf/models/blocks/spectral_channel_mixing.py',
        [('b = self.weight_imag.to(x.dtype)',
          'b = -self.weight_imag.to(x.dtype)')],
        BLOCK_TESTS),
    'fa_half_accumulation': (
        'FA accumulates in float16/bfloat16 instead of float32',
        'mmdtf/ops/frame_aggregation/torch_kernel.py',
        [('return torch.float32 if dtype in (torch.float16, torch.bfloat16) '
          'else dtype', 'return dtype')],
        ['tests/ops/test_frame_aggregation.py::'
         'test_half_precision_accumulates_in_float32']),
    'fa_fake_layout': (
        "FA's fake implementation (what torch.compile plans with) gives y "
        "the standard layout, whatever the input's",
        'mmdtf/ops/frame_aggregation/torch_kernel.py',
        [('return (layout.unflat(x.new_empty(layout.flat_shape)),',
          'return (x.new_empty(x.shape),')],
        ['tests/ops/test_frame_aggregation_compile.py::'
         'test_fake_outputs_match_real_ones']),
    'dft_cache_in_graph': (
        'compiled code looks the DFT matrices up in their Python-side cache '
        '(a guard: recompilation whenever the cache changes)',
        'mmdtf/models/blocks/spectral_transforms.py',
        [('compiling = torch.compiler.is_compiling()', 'compiling = False')],
        ['tests/models/backbones/test_backbone_compile.py::'
         'test_no_recompilation_when_eager_calls_fill_caches']),
    'no_aggregation': (
        "the block ignores FA's aggregation (y = x)",
        'mmdtf/models/blocks/dtf_block.py',
        [('return (y_fa if self.aggregate else x,', 'return (x,')],
        BLOCK_TESTS),
    'filter_not_shared_by_its_group': (
        "channel c takes group c % (C/G)'s filter instead of group c // G's "
        '(the G channels sharing a filter are not consecutive)',
        'mmdtf/models/blocks/spectral_filters.py',
        [('grouped = (real.view(n, self.groups, self.shared_by, -1, h, w),'
          '\n                   imag.view(n, self.groups, self.shared_by, '
          '-1, h, w))',
          'grouped = (real.view(n, self.shared_by, self.groups, -1, h, w)'
          '.transpose(1, 2), imag.view(n, self.shared_by, self.groups, '
          '-1, h, w).transpose(1, 2))'),
         ('spec = (real.view(n, c, -1, h, w), imag.view(n, c, -1, h, w))',
          'spec = (real.transpose(1, 2).reshape(n, c, -1, h, w), '
          'imag.transpose(1, 2).reshape(n, c, -1, h, w))')],
        BLOCK_TESTS),
    'dynamic_conv1d_not_shared_by_its_group': (
        "DTF_1d+: channel c takes group c % (C/G)'s kernel",
        'mmdtf/models/blocks/temporal_conv_filters.py',
        [('grouped = y.view(n, self.groups, self.group_factor, t, h, w)',
          'grouped = y.reshape(n, self.group_factor, self.groups, t, h, w)'
          '.transpose(1, 2)'),
         ('return out.view(n, c, t, h, w)',
          'return out.transpose(1, 2).reshape(n, c, t, h, w)')],
        BLOCK_TESTS),
    'gamma_before_norm': (
        "gamma scales the spectrum before the mixing's norm instead of the "
        'filtered output',
        'mmdtf/models/blocks/dtf_block.py',
        [('        filtered = self.filter(*self.filter_inputs(x))\n',
          '        mixing = getattr(self.filter, "mixing", None)\n'
          '        if mixing is not None:\n'
          '            g = self.gamma\n'
          '            hook = mixing.register_forward_pre_hook(\n'
          '                lambda m, a: ((a[0][0] * g, a[0][1] * g),)'
          ' + tuple(a[1:]))\n'
          '            filtered = self.filter(*self.filter_inputs(x))\n'
          '            hook.remove()\n'
          '            return (x + filtered).add_(self.beta)\n'
          '        filtered = self.filter(*self.filter_inputs(x))\n')],
        BLOCK_TESTS),
    'conv1d_channelwise': (
        'DTF_1d is a channel-wise convolution instead of a full one',
        'mmdtf/models/blocks/temporal_conv_filters.py',
        [('groups=channels if channelwise else 1,', 'groups=channels,')],
        BLOCK_TESTS),
    'resnet_frames_regrouped_wrongly': (
        "ResNetDTF reads its (N*T, C, H, W) frame batch as (N, C, T, H, W) "
        'memory instead of (N, T, C, H, W)',
        'mmdtf/models/backbones/resnet_dtf.py',
        [('clip = x.view(nt // t, t, c, h, w).transpose(1, 2)',
          'clip = x.reshape(nt // t, c, t, h, w)'),
         ('return out.transpose(1, 2).reshape(nt, c, h, w)',
          'return out.reshape(nt, c, h, w)')],
        WIRING_TESTS),
    'swin_tokens_not_channels_last': (
        'SwinDTF hands its channels-last (B, T, H, W, C) tokens to DTF as '
        'if they were stored (B, C, T, H, W)',
        'mmdtf/models/backbones/swin_dtf.py',
        [('return self.dtf(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)',
          'return self.dtf(x.reshape(x.shape[0], x.shape[4], '
          '*x.shape[1:4])).reshape(x.shape)')],
        WIRING_TESTS),
}

IGNORE = shutil.ignore_patterns('.git', '__pycache__', '.pytest_cache',
                                '*.egg-info', 'work_dirs', 'data')


def apply(path: Path, replacements: Sequence[Tuple[str, str]],
          write: bool = True) -> None:
    """Apply exact-string replacements; each ``old`` must occur once.
    ``write=False`` only checks that they apply."""
    if not path.is_file():
        raise RuntimeError(f'mutation target file {path} does not exist. The '
                           f'code moved: retarget MUTANTS in '
                           f'{Path(__file__).name}.')
    text = path.read_text()
    for old, new in replacements:
        count = text.count(old)
        if count != 1:
            raise RuntimeError(
                f'mutation target found {count} times (expected exactly once) '
                f'in {path}: {old!r}. The code moved: retarget MUTANTS in '
                f'{Path(__file__).name}.')
        text = text.replace(old, new)
    if write:
        path.write_text(text)


def run_tests(root: Path, tests: Sequence[str], first_failure: bool
              ) -> Tuple[int, str, Optional[str]]:
    """Run pytest on ``tests`` in ``root``; returns (return code, output
    tail, first failing test id)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
           '-W', 'ignore', *tests]
    if first_failure:
        cmd.append('-x')
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True,
                          text=True)
    failed = [line.split(' ')[1] for line in proc.stdout.splitlines()
              if line.startswith(('FAILED ', 'ERROR '))]
    return (proc.returncode, proc.stdout[-3000:] + proc.stderr[-2000:],
            failed[0] if failed else None)


def check_copy_is_imported(root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, '-c', 'import mmdtf; print(mmdtf.__file__)'],
        cwd=root, env=env, capture_output=True, text=True).stdout.strip()
    if not out.startswith(str(root)):
        raise RuntimeError(f'the copy in {root} is not what Python imports '
                           f'(it imports {out}); is mmdtf installed non-'
                           'editable ahead of PYTHONPATH?')


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-m', '--mutants', nargs='+', choices=list(MUTANTS),
                        help='run only these mutants')
    parser.add_argument('--list', action='store_true',
                        help='print the mutants and exit')
    parser.add_argument('--check-targets', action='store_true',
                        help='only check that every mutant applies (each '
                        'target occurs exactly once), run no tests')
    args = parser.parse_args(argv)
    names = args.mutants or list(MUTANTS)
    if args.list:
        for name in names:
            what, path, _, tests = MUTANTS[name]
            print(f'{name}: {what} ({path}; tests: {" ".join(tests)})')
        return 0
    start = time.time()
    with tempfile.TemporaryDirectory(prefix='mmdtf_mutants_') as tmp:
        # every target applies before anything runs: a moved target fails
        # at once
        for name in names:
            _, path, replacements, _ = MUTANTS[name]
            apply(REPO / path, replacements, write=False)
        if args.check_targets:
            print(f'all {len(names)} mutants apply')
            return 0
        root = Path(tmp) / 'repo'
        shutil.copytree(REPO, root, ignore=IGNORE)
        check_copy_is_imported(root)
        baseline = sorted({t for name in names for t in MUTANTS[name][3]})
        code, tail, _ = run_tests(root, baseline, first_failure=False)
        if code != 0:
            print(f'baseline: the unmutated tests fail:\n{tail}')
            return 2
        print(f'baseline: {" ".join(baseline)} pass')
        survivors = []
        for name in names:
            what, path, replacements, tests = MUTANTS[name]
            original = (root / path).read_text()
            apply(root / path, replacements)
            t0 = time.time()
            try:
                code, tail, killer = run_tests(root, tests,
                                               first_failure=True)
            finally:
                (root / path).write_text(original)
            if code == 0:
                survivors.append(name)
                print(f'SURVIVED {name}: {what}')
            else:
                print(f'killed   {name} ({time.time() - t0:.0f} s) by '
                      f'{killer}')
    print(f'{len(names) - len(survivors)}/{len(names)} mutants killed in '
          f'{time.time() - start:.0f} s')
    return 1 if survivors else 0


if __name__ == '__main__':
    sys.exit(main())
