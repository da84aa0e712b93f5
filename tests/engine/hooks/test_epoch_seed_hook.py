"""EpochSeedHook: each epoch's random numbers depend on (seed, epoch) only,
not on what earlier epochs drew (the resume test in
tests/test_training_robustness.py checks the losses end to end)."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mmdtf.engine.hooks import EpochSeedHook
from mmdtf.engine.hooks.epoch_seed_hook import epoch_seed


def draws():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())))


def test_same_epoch_same_draws_whatever_came_before():
    hook = EpochSeedHook()
    runner = SimpleNamespace(seed=0, epoch=1)
    hook.before_train_epoch(runner)
    first = draws()
    for _ in range(5):  # an epoch's worth of other random numbers
        draws()
    hook.before_train_epoch(runner)
    assert draws() == first


def test_epochs_seeds_and_ranks_differ():
    seeds = {epoch_seed(seed, epoch) for seed in (0, 1) for epoch in range(4)}
    assert len(seeds) == 8
    assert all(0 <= s < 2**32 for s in seeds)

    hook = EpochSeedHook()
    hook.before_train_epoch(SimpleNamespace(seed=0, epoch=0))
    epoch0 = draws()
    hook.before_train_epoch(SimpleNamespace(seed=0, epoch=1))
    assert draws() != epoch0
    # diff_rank_seed: the runner's seed is seed + rank
    hook.before_train_epoch(SimpleNamespace(seed=1, epoch=0))
    assert draws() != epoch0


def test_explicit_seed_overrides_runner_seed():
    EpochSeedHook(seed=7).before_train_epoch(SimpleNamespace(seed=0, epoch=2))
    explicit = draws()
    EpochSeedHook().before_train_epoch(SimpleNamespace(seed=7, epoch=2))
    assert draws() == explicit
