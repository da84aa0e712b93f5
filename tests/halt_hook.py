"""A test-only MMEngine hook: after a given training iteration, write a
sentinel file and wait to be killed. A test that kills a training run waits
for the sentinel (written whole, by a rename) instead of polling the run's
logs, and the kill lands at a known iteration.

Configs import it with ``custom_imports = dict(imports=['mmdtf',
'halt_hook'])``; ``helpers.subprocess_env`` puts tests/ on ``PYTHONPATH``.
"""
import os
import time

from mmaction.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class HaltAfterIterHook(Hook):
    """After training iteration ``iteration`` (1-based, counted over the
    whole run) write ``sentinel`` and sleep until killed (at most
    ``timeout`` s, then raise)."""

    # after LoggerHook (BELOW_NORMAL) and CheckpointHook (VERY_LOW): the
    # iteration is logged when the sentinel appears
    priority = 'LOWEST'

    def __init__(self, iteration: int, sentinel: str, timeout: float = 600):
        self.iteration = iteration
        self.sentinel = sentinel
        self.timeout = timeout

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 != self.iteration:  # runner.iter: 0-based, not
            return                             # yet counted up
        partial = self.sentinel + '.partial'
        with open(partial, 'w') as f:
            f.write(f'{self.iteration}\n')
        os.replace(partial, self.sentinel)
        time.sleep(self.timeout)
        raise RuntimeError(f'HaltAfterIterHook: not killed within '
                           f'{self.timeout} s of writing {self.sentinel}')
