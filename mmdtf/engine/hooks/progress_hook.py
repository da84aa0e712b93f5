"""One progress line for a Runner run in a tool's own process."""
from typing import Optional, TextIO

from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ...utils.progress import ProgressLine, describe


@HOOKS.register_module()
class ProgressHook(Hook):
    """Show a run's progress on one line (:class:`~mmdtf.utils.progress.
    ProgressLine`: rewritten in place on a terminal, at most every
    ``interval`` seconds in a log), in the words the demo tool uses for
    ``mim``'s log lines (:func:`~mmdtf.utils.progress.describe`):
    ``desc train epoch e/E, iter i/I, loss x`` while training, ``desc val
    i/N`` and ``desc test i/N`` while evaluating::

        custom_hooks = [dict(type='ProgressHook', desc='dtf')]

    Args:
        desc: the text before the progress (e.g. the run's name).
        stream: where to write (default ``sys.stderr``).
        interval: off a terminal, print at most once per this many seconds.
    """

    priority = 'VERY_LOW'

    def __init__(self, desc: str = '', stream: Optional[TextIO] = None,
                 interval: float = 30.) -> None:
        self.desc = desc
        self.line = ProgressLine(stream, interval)

    def _show(self, info: dict, max_epochs: Optional[int] = None) -> None:
        text = describe(info, max_epochs)
        self.line.update(f'{self.desc} {text}' if self.desc else text)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        info = dict(mode='train', epoch=runner.epoch + 1, iter=batch_idx + 1,
                    total=len(runner.train_dataloader))
        loss = (outputs or {}).get('loss')
        if loss is not None:
            info['loss'] = f'{float(loss):.4f}'
        self._show(info, runner.max_epochs)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs=None) -> None:
        self._show(dict(mode='val', epoch=None, iter=batch_idx + 1,
                        total=len(runner.val_dataloader)))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        self._show(dict(mode='test', epoch=None, iter=batch_idx + 1,
                        total=len(runner.test_dataloader)))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.line.close()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self.line.close()
