"""Activation checkpointing that counts batch-norm statistics once.

A checkpointed forward runs again in backward, and every batch norm in it
then updates its running statistics a second time (MMAction2's ResNet blocks
do so with ``with_cp=True``). The recomputation here restores them.
"""
import contextlib
from typing import Callable

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils import checkpoint as cp


@contextlib.contextmanager
def keep_running_stats(module: torch.nn.Module):
    """Undo the running-statistics update of the batch norms in ``module``."""
    norms = [m for m in module.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [[b.clone() for b in m.buffers(recurse=False)] for m in norms]
    try:
        yield
    finally:
        for norm, buffers in zip(norms, saved):
            for buf, old in zip(norm.buffers(recurse=False), buffers):
                buf.copy_(old)


def checkpoint_once(function: Callable, *args, module: torch.nn.Module):
    """``function(*args)`` with its activations recomputed in backward
    (non-reentrant checkpointing); the recomputation leaves the batch norms
    in ``module`` as the forward left them."""

    def context_fn():
        return contextlib.nullcontext(), keep_running_stats(module)

    return cp.checkpoint(function, *args, use_reentrant=False,
                         context_fn=context_fn)
