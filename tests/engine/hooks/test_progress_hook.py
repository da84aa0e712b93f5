"""ProgressHook: a Runner's progress on one line, in the words run_demo
uses for `mim`'s log lines."""
import io
from types import SimpleNamespace

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmdtf.engine.hooks import ProgressHook


def fake_runner():
    return SimpleNamespace(epoch=2, max_epochs=25,
                           train_dataloader=[0] * 40,
                           val_dataloader=[0] * 10,
                           test_dataloader=[0] * 80)


def test_runner_progress_hook_shows_epoch_iteration_loss_and_test():
    """The in-process Runner's progress line (compare_dtf_variants)."""
    from mmdtf.utils.progress import runner_progress_hook
    stream = io.StringIO()
    hook = runner_progress_hook('dtf', stream=stream, interval=0)
    assert isinstance(hook, ProgressHook)
    runner = fake_runner()
    hook.after_train_iter(runner, 9, outputs=dict(loss=torch.tensor(0.25)))
    hook.after_test_iter(runner, 79)
    hook.after_test_epoch(runner)
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'dtf train epoch 3/25, iter 10/40, loss 0.2500'
    assert lines[1] == 'dtf test 80/80'


def test_validation_and_no_description():
    stream = io.StringIO()
    hook = ProgressHook(stream=stream, interval=0)
    runner = fake_runner()
    hook.after_train_iter(runner, 0)  # no loss in the outputs
    hook.after_val_iter(runner, 4)
    hook.after_val_epoch(runner)
    assert stream.getvalue().splitlines() == [
        'train epoch 3/25, iter 1/40', 'val 5/10', 'val 5/10']


class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, mode='tensor'):
        loss = (self.w * x).square().mean()
        return dict(loss=loss) if mode == 'loss' else [loss]


def test_config_entry_runs_in_a_runner(tmp_path, monkeypatch):
    """`custom_hooks=[dict(type='ProgressHook', ...)]` in an MMAction2-scoped
    Runner: one line per update off a terminal (interval 0), the last one
    the last iteration of the last epoch."""
    stream = io.StringIO()
    loader = DataLoader([dict(x=torch.tensor([float(i)])) for i in range(6)],
                        batch_size=2)
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=2), default_scope='mmaction',
        custom_hooks=[dict(type='ProgressHook', desc='toy', stream=stream,
                           interval=0)],
        default_hooks=dict(logger=None, checkpoint=None),
        log_level='WARNING')
    runner.train()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6
    assert lines[0].startswith('toy train epoch 1/2, iter 1/3, loss ')
    assert lines[-1].startswith('toy train epoch 2/2, iter 3/3, loss ')
