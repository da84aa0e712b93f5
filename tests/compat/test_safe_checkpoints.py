"""MMEngine checkpoints load under torch's default weights_only loading;
a pickle that would run code does not."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmdtf  # noqa: F401  (allow-lists what MMEngine checkpoints contain)
from mmdtf.compat import safe_checkpoints


def mmengine_style_checkpoint(path):
    hub = MessageHub.get_instance('test_safe_checkpoint')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', 7)
    checkpoint = dict(
        meta=dict(epoch=2, iter=7, seed=np.int64(3), mmengine_version='0.10.7',
                  dataset_meta=dict(classes=('a', 'b'))),
        state_dict={'w': torch.ones(2)},
        message_hub=hub.state_dict(),
        optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                  lr=0.1, momentum=0.9).state_dict(),
        param_schedulers=[dict(last_epoch=2, base_lrs=[0.1])])
    torch.save(checkpoint, path)


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    mmengine_style_checkpoint(path)
    loaded = torch.load(path)  # weights_only is torch 2.13's default
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(1.0)
    assert loaded['meta']['seed'] == 3
    assert loaded['meta']['iter'] == 7


class _RunsCommand:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


class _WritesFile:
    """Pickles as getattr(ndarray, 'tofile')(target): plain getattr on an
    allowed object would let a checkpoint write any file."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (np.zeros(1).tofile, (str(self.target), ))


def test_code_running_pickle_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _RunsCommand()}, path)
    with pytest.raises(pickle.UnpicklingError, match='os.system|posix.system'):
        torch.load(path)


def test_getattr_is_limited_to_history_buffers(tmp_path):
    path, target = tmp_path / 'evil.pth', tmp_path / 'written'
    torch.save({'state_dict': {}, 'x': _WritesFile(target)}, path)
    with pytest.raises(pickle.UnpicklingError, match="getattr\\(ndarray, 'tofile'\\)"):
        torch.load(path)
    assert not target.exists()


def test_object_dtype_array_is_refused(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'meta': np.array([len, print], dtype=object)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


@pytest.fixture
def torch_without_allow_list(monkeypatch):
    """torch as before `import mmdtf` allow-listed anything."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    monkeypatch.setattr(safe_checkpoints, '_applied', False)
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


def test_probe_sees_torch_refuse_mmengine_checkpoints(torch_without_allow_list):
    assert safe_checkpoints.defect_present()  # torch 2.13, mmengine 0.10.7
    assert safe_checkpoints.apply() is True
    assert not safe_checkpoints.defect_present()


def test_no_op_when_checkpoints_load(monkeypatch, torch_without_allow_list):
    """An MMEngine or torch that loads its checkpoints by itself: nothing
    is allow-listed."""
    monkeypatch.setattr(safe_checkpoints, 'defect_present', lambda: False)
    assert safe_checkpoints.apply() is False
    assert torch.serialization.get_safe_globals() == []
