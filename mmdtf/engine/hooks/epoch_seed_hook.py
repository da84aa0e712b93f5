"""Reseed the random generators at every training epoch, for exact resumes.

MMEngine checkpoints hold the model, optimizer, schedulers and message hub,
not the states of Python's, NumPy's and PyTorch's random generators. The
sampler is resume-safe (``DefaultSampler`` shuffles with ``seed + epoch``),
but a run resumed at epoch ``e`` otherwise draws different random crops
(``num_workers=0``), dropout masks and re-fetch indices than the uninterrupted
run did in epoch ``e``: its losses differ from there on.

``EpochSeedHook`` makes every epoch's random numbers a function of
``(seed, epoch)`` only: before each training epoch it seeds ``random``,
``numpy.random`` and ``torch`` (CPU and all GPUs) from
``numpy.random.SeedSequence([seed, epoch])``, with the runner's seed (the
``randomness.seed`` of the config, plus the rank if ``diff_rank_seed``). A
run resumed from ``epoch_e.pth`` then repeats, iteration by iteration, what
the uninterrupted run computes from epoch ``e + 1`` on (with
``randomness.deterministic=True`` where kernels would be nondeterministic).

Dataloader workers seed themselves (MMEngine's ``worker_init_fn``) when they
start, once per epoch unless ``persistent_workers=True``: for exact resumes
with ``num_workers > 0`` set ``persistent_workers=False``.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch``, independent of the other epochs'."""
    sequence = np.random.SeedSequence([seed % 2**32, epoch])
    return int(sequence.generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed Python, NumPy and PyTorch from ``(seed, epoch)`` every epoch.

    Args:
        seed (int, optional): The base seed. Defaults to None: the runner's
            seed (``randomness.seed``, plus the rank with ``diff_rank_seed``).
    """

    priority = 'HIGHEST'  # before any other hook draws random numbers

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        base = runner.seed if self.seed is None else self.seed
        seed = epoch_seed(base, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # seeds every CUDA device too
