"""Training that survives, end to end on CPU with the demo config and
MMAction2's own entry points (`mim train` / `mim test` / tools/train.py):

- distributed training, 2 processes via MMEngine's `pytorch` launcher (gloo);
- SIGKILL during an epoch, then `--resume`: the losses continue exactly as
  in an uninterrupted run (model, optimizer, scheduler, sampler, randomness);
- determinism: two runs with `randomness.deterministic=True` log identical
  losses;
- checkpoint safety: `mim test --checkpoint` and `train.py --resume` (what
  `mim train ... --resume` runs) refuse a pickle
  that would run a command, and load genuine MMEngine checkpoints, under
  PyTorch's default weights_only loading.

Small: 16 training / 8 validation videos, 16 px, 1-2 epochs.
"""
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

# every test here runs MMAction2's train.py / test.py in a subprocess
pytestmark = pytest.mark.slow

ITERS_PER_EPOCH = 8  # 16 training videos, batch 2
TOP1 = re.compile(r'Epoch\(\w+\) \[[\d/\]\[]+\s+acc/top1: ([0-9.]+)')


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    helpers.make_demo_data(root, train_per_class=2, val_per_class=1)
    return root


@pytest.fixture(scope='module')
def train_config(demo_data):
    """The demo config, 2 epochs of 8 iterations, a checkpoint per epoch,
    seed 0, deterministic, EpochSeedHook for exact resumes."""
    cfg = helpers.demo_config(
        demo_data, batch_size=2, max_epochs=2,
        overrides=dict(custom_hooks=[dict(type='EpochSeedHook')]))
    return helpers.write_config(cfg, demo_data / 'dtf_r18_demo_small.py')


@pytest.fixture(scope='module')
def reference(train_config, tmp_path_factory):
    """An uninterrupted run of `train_config`: its work dir."""
    work_dir = tmp_path_factory.mktemp('reference')
    helpers.run(
        helpers.python_cmd(helpers.TRAIN_PY, train_config, '--no-validate',
                           '--work-dir', work_dir), work_dir / 'train.log')
    return work_dir


def only_run(work_dir):
    runs = helpers.run_dirs(work_dir)
    assert len(runs) == 1, runs
    return helpers.train_scalars(runs[0])


def test_distributed_training_two_cpu_processes(demo_data, tmp_path):
    """`mim train --gpus 2 --launcher pytorch` on CPU: two ranks split the
    data, rank 0 alone writes the checkpoint, validation gathers both
    ranks' predictions, BadVideoHook sums both ranks' skipped videos."""
    data = shutil.copytree(demo_data, tmp_path / 'data',
                           ignore=shutil.ignore_patterns('*.py'))
    bad = helpers.add_bad_videos(data, data / 'train_list.txt')  # 20 videos
    cfg = helpers.demo_config(data, batch_size=4, max_epochs=1)
    cfg.train_dataloader.dataset.update(
        type='CheckedVideoDataset', num_classes=8, skip_bad_videos=True)
    # in order: rank 0 gets the even lines, rank 1 the odd ones
    cfg.train_dataloader.sampler.shuffle = False
    cfg.custom_hooks = [dict(type='BadVideoHook')]
    cfg.val_dataloader.batch_size = 2
    # DDP of a CPU model takes no device ids (valid on GPUs too)
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        device_ids=None)
    dump = tmp_path / 'val_predictions.pkl'
    cfg.val_evaluator = [
        dict(type='AccMetric'),
        dict(type='DumpResults', out_file_path=str(dump)),
    ]
    config = helpers.write_config(cfg, tmp_path / 'dtf_r18_demo_dist.py')
    work_dir = tmp_path / 'work'
    out = helpers.run(
        ['mim', 'train', 'mmaction2', config, '--gpus', '2', '--launcher',
         'pytorch', '--port', helpers.free_port(), '--work-dir', work_dir],
        tmp_path / 'mim_train.log').stdout

    assert 'torch.distributed.launch --nproc_per_node=2' in out
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out  # MMEngine's name for the world size
    # 20 videos, 2 ranks x batch 4: 3 iterations (1 process: 5)
    assert 'Epoch(train) [1][3/3]' in out
    assert list(only_run(work_dir)) == [1, 2, 3]
    # bad videos on lines 17 and 19 went to rank 0, line 18 to rank 1
    summary = re.search(r'Epoch 1: skipped (\d+) bad video sample\(s\) of '
                        r'3 file\(s\)', out)
    assert summary and int(summary.group(1)) >= 3
    for kind in ('missing', 'empty', 'truncated'):
        path, line = bad[kind]
        assert f'{path} (annotation line {line}): ' in out
    # 8 validation videos, 2 ranks x batch 2: 2 iterations each
    assert 'Epoch(val) [1][2/2]' in out
    # rank 0 alone saves (MMEngine's master_only): once, one file
    assert out.count('Saving checkpoint at 1 epochs') == 1
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    checkpoint = torch.load(work_dir / 'epoch_1.pth')  # weights_only
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (1, 3)

    # the metric saw all 8 videos, 4 from each rank, in dataset order
    with open(dump, 'rb') as f:
        predictions = pickle.load(f)
    labels = [int(p['gt_label']) for p in predictions]
    assert labels == list(range(8))  # one per class, as in val_list.txt
    correct = sum(int(p['pred_score'].argmax()) == int(p['gt_label'])
                  for p in predictions)
    assert float(TOP1.findall(out)[-1]) == pytest.approx(correct / 8,
                                                         abs=1e-4)


def test_resume_after_sigkill_matches_uninterrupted_run(
        train_config, reference, tmp_path):
    work_dir = tmp_path / 'work'
    log = tmp_path / 'killed.log'
    # the same run, halted after iteration 10 (the 2nd of epoch 2) by a
    # test-only hook that then writes a sentinel and waits to be killed
    sentinel = tmp_path / 'halted'
    halting = tmp_path / 'halting.py'
    halting.write_text(
        f"_base_ = [{str(train_config)!r}]\n"
        "custom_imports = dict(imports=['mmdtf', 'halt_hook'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='EpochSeedHook'), "
        f"dict(type='HaltAfterIterHook', iteration={ITERS_PER_EPOCH + 2}, "
        f"sentinel={str(sentinel)!r})]\n")
    proc = helpers.start(
        helpers.python_cmd(helpers.TRAIN_PY, halting, '--no-validate',
                           '--work-dir', work_dir), log)
    try:
        helpers.wait_for(sentinel.is_file, proc, log, timeout=300,
                         what='the sentinel of iteration 10', poll=0.5)
    finally:
        helpers.kill(proc)  # SIGKILL, no chance to clean up
    assert proc.returncode == -9
    assert (work_dir / 'epoch_1.pth').is_file()
    assert not (work_dir / 'epoch_2.pth').exists(), 'killed too late'
    killed = helpers.train_scalars(helpers.run_dirs(work_dir)[0])
    assert list(killed) == list(range(1, ITERS_PER_EPOCH + 3))
    expected = only_run(reference)
    for it, scalars in killed.items():  # same seed, same numbers
        assert scalars['loss'] == expected[it]['loss']

    out = helpers.run(
        helpers.python_cmd(helpers.TRAIN_PY, train_config, '--no-validate',
                           '--work-dir', work_dir, '--resume'),
        tmp_path / 'resumed.log').stdout
    assert 'Auto resumed from the latest checkpoint' in out
    assert 'resumed epoch: 1, iter: 8' in out
    resumed = helpers.train_scalars(helpers.run_dirs(work_dir)[1])
    # the whole of epoch 2 again, as the uninterrupted run computed it: the
    # first loss needs the weights and the sampler's order, the next ones
    # the optimizer's moments and the scheduler's learning rates too
    assert list(resumed) == list(range(9, 17))
    for it, scalars in resumed.items():
        assert scalars['lr'] == pytest.approx(expected[it]['lr'], rel=1e-12)
        assert scalars['loss'] == pytest.approx(
            expected[it]['loss'], rel=1e-6), f'iteration {it}'

    ours = torch.load(work_dir / 'epoch_2.pth')
    theirs = torch.load(reference / 'epoch_2.pth')
    for key, value in theirs['state_dict'].items():
        torch.testing.assert_close(ours['state_dict'][key], value,
                                   rtol=1e-5, atol=1e-6, msg=key)
    for param, state in theirs['optimizer']['state'].items():
        for name in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(
                ours['optimizer']['state'][param][name], state[name],
                rtol=1e-5, atol=1e-8)


def test_deterministic_runs_log_identical_losses(train_config, reference,
                                                 tmp_path):
    """A second run (its first epoch) repeats the reference bit for bit."""
    work_dir = tmp_path / 'work'
    helpers.run(
        helpers.python_cmd(helpers.TRAIN_PY, train_config, '--no-validate',
                           '--work-dir', work_dir, '--cfg-options',
                           'train_cfg.max_epochs=1'),
        tmp_path / 'train.log')
    again = only_run(work_dir)
    expected = only_run(reference)
    assert list(again) == list(range(1, ITERS_PER_EPOCH + 1))
    losses = [again[it]['loss'] for it in again]
    assert losses == [expected[it]['loss'] for it in again]
    assert len(set(losses)) == len(losses)  # real, changing numbers


class RunsACommand:
    """Unpickling this runs `touch <path>` (what a malicious checkpoint
    would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f'touch {self.path}', )


@pytest.fixture
def malicious_checkpoint(tmp_path):
    pwned = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(
        dict(meta=dict(epoch=1, iter=8), state_dict={},
             message_hub=RunsACommand(pwned)), path)
    return path, pwned


def assert_refused(out, pwned):
    assert 'Weights only load failed' in out
    assert 'unsupported GLOBAL posix.system' in out
    assert not pwned.exists()


def test_mim_test_refuses_malicious_checkpoint_loads_genuine(
        train_config, reference, malicious_checkpoint, tmp_path):
    evil, pwned = malicious_checkpoint
    result = helpers.run(
        ['mim', 'test', 'mmaction2', train_config, '--checkpoint', evil,
         '--gpus', '0', '--work-dir', tmp_path / 'evil'],
        tmp_path / 'evil.log', check=False)
    assert result.returncode != 0
    assert_refused(result.stdout, pwned)

    # a genuine checkpoint loads and tests (on 2 videos, to be quick)
    val_list = Path(train_config).parent / 'val_list.txt'
    two_videos = tmp_path / 'two_videos.txt'
    two_videos.write_text(''.join(val_list.read_text().splitlines(True)[:2]))
    dump = tmp_path / 'genuine.pkl'
    out = helpers.run(
        ['mim', 'test', 'mmaction2', train_config, '--checkpoint',
         reference / 'epoch_2.pth', '--gpus', '0', '--work-dir',
         tmp_path / 'genuine', '--dump', dump, '--cfg-options',
         f'test_dataloader.dataset.ann_file={two_videos}'],
        tmp_path / 'genuine.log').stdout
    assert f'Load checkpoint from {reference / "epoch_2.pth"}' in out
    assert 'Epoch(test) [2/2]' in out
    scored = helpers.scored_from_dump(dump)
    assert len(scored) == 2
    assert float(TOP1.findall(out)[-1]) == pytest.approx(
        helpers.top1_of(scored), abs=1e-4)  # the log prints 4 decimals


def test_resume_refuses_malicious_checkpoint(train_config,
                                             malicious_checkpoint, tmp_path):
    evil, pwned = malicious_checkpoint
    work_dir = tmp_path / 'work'
    result = helpers.run(
        helpers.python_cmd(helpers.TRAIN_PY, train_config, '--work-dir',
                           work_dir, '--resume', evil),
        tmp_path / 'train.log', check=False)
    assert result.returncode != 0
    assert_refused(result.stdout, pwned)
    assert not list(work_dir.glob('*.pth'))  # no training happened
