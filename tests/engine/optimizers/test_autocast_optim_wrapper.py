"""Mixed precision with the demo config: bfloat16 autocast on CPU through
AutocastOptimWrapper (MMEngine's AmpOptimWrapper needs a GPU), float16 and
bfloat16 through AmpOptimWrapper on a GPU."""
import math

import pytest
import torch
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import Runner

from mmdtf.engine.optimizers import AutocastOptimWrapper

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """4 training and 2 validation videos: bfloat16 convolutions are slow on
    CPUs without AVX512-BF16/AMX (PyTorch falls back to its reference
    kernels there)."""
    root = tmp_path_factory.mktemp('amp_data')
    helpers.make_demo_data(root, train_per_class=1, val_per_class=1)
    for split, keep in (('train', 4), ('val', 2)):
        ann_file = root / f'{split}_list.txt'
        lines = ann_file.read_text().splitlines(True)
        ann_file.write_text(''.join(lines[::len(lines) // keep][:keep]))
    return root


def train_one_epoch(data, work_dir, optim_wrapper, deterministic=True):
    cfg = helpers.demo_config(data, work_dir, batch_size=2, max_epochs=1)
    cfg.randomness.deterministic = deterministic
    cfg.optim_wrapper.update(optim_wrapper)
    cfg.val_cfg = dict(type='ValLoop', fp16=True)  # autocast validation
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    runner.head_inputs = helpers.record_head_inputs(runner.model)
    dtypes = []
    head = runner.model.cls_head.fc_cls
    handle = head.register_forward_hook(
        lambda module, args, output: dtypes.append(
            (module.training, output.dtype)))
    with helpers.one_thread():
        runner.train()
    handle.remove()
    return runner, dtypes


def test_bfloat16_autocast_trains_the_demo_on_cpu(data, tmp_path,
                                                  monkeypatch):
    evaluated = helpers.record_accuracy_inputs(monkeypatch)
    runner, dtypes = train_one_epoch(
        data, tmp_path, dict(type='AutocastOptimWrapper', dtype='bfloat16'))
    assert isinstance(runner.optim_wrapper, AutocastOptimWrapper)
    assert runner.iter == 2  # 4 videos, batch 2
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    # each logged loss is the cross entropy of the (bfloat16) class scores
    # the head computed, recomputed in float64
    assert len(losses) == len(runner.head_inputs) == 2
    for loss, head_inputs in zip(losses, runner.head_inputs):
        assert head_inputs[0].dtype == torch.bfloat16
        assert loss == pytest.approx(helpers.cross_entropy_of(head_inputs),
                                     rel=1e-5)
    assert 1.0 < losses[0] < 4.0  # about ln(8) at the start
    assert losses[1] != losses[0]
    # the forward passes ran in bfloat16, training and validation alike
    assert dtypes == [(True, torch.bfloat16)] * 2 + [(False, torch.bfloat16)]
    # while the weights the optimizer updates stay float32
    assert {p.dtype for p in runner.model.parameters()} == {torch.float32}
    top1 = runner.message_hub.get_scalar('val/acc/top1').current()
    assert len(evaluated) == 1 and len(evaluated[0]) == 2  # 2 videos
    assert top1 == pytest.approx(helpers.top1_of(evaluated[0]))


def test_float16_needs_loss_scaling():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="AmpOptimWrapper', dtype='float16'"):
        AutocastOptimWrapper(
            dtype='float16', optimizer=torch.optim.SGD(model.parameters(),
                                                       lr=0.1))


def test_mmengine_amp_optim_wrapper_needs_a_gpu(monkeypatch):
    """Why AutocastOptimWrapper exists: MMEngine 0.10 refuses CPU AMP. The
    accelerators its check consults are hidden, so that the test runs on
    GPU machines too."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for name in ('is_npu_available', 'is_mlu_available',
                 'is_musa_available'):
        monkeypatch.setattr(amp_optimizer_wrapper, name, lambda: False)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(AssertionError, match='only available training on'):
        AmpOptimWrapper(
            dtype='bfloat16',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.cuda
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_optim_wrapper_trains_the_demo_on_gpu(data, tmp_path, dtype):
    # not deterministic: the I3D head's adaptive pooling has no
    # deterministic CUDA backward (torch.use_deterministic_algorithms raises)
    runner, dtypes = train_one_epoch(
        data, tmp_path, dict(type='AmpOptimWrapper', dtype=dtype,
                             loss_scale='dynamic'), deterministic=False)
    assert next(runner.model.parameters()).is_cuda
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert dtypes[0] == (True, getattr(torch, dtype))
