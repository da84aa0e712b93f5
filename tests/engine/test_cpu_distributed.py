"""The CPU path of MMEngine's `pytorch` launcher (the 2-process training run
is in tests/test_training_robustness.py)."""
import pytest
import torch
from mmengine.dist import utils as dist_utils

from mmdtf.engine import cpu_distributed, enable_cpu_distributed


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without CUDA (or another accelerator MMEngine knows), also
    where the test runs on one: what MMEngine's device checks consult."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for name in ('is_npu_available', 'is_mlu_available',
                 'is_musa_available'):
        monkeypatch.setattr(cpu_distributed, name, lambda: False)


def test_installed_once():
    patched = dist_utils._init_dist_pytorch
    assert getattr(patched, '_mmdtf_cpu', False)
    assert enable_cpu_distributed()
    assert dist_utils._init_dist_pytorch is patched  # idempotent


def test_nccl_without_gpu_says_what_to_set(monkeypatch, no_gpu):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    with pytest.raises(RuntimeError) as error:
        dist_utils._init_dist_pytorch('nccl')
    assert "env_cfg.dist_cfg.backend is 'nccl'" in str(error.value)
    assert 'env_cfg.dist_cfg.backend=gloo' in str(error.value)
    assert not started


def test_gloo_without_gpu_starts_the_process_group(monkeypatch, no_gpu):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    dist_utils._init_dist_pytorch('gloo', timeout=60)
    assert started == [dict(backend='gloo', rank=1, world_size=2,
                            timeout=60)]


def test_with_a_gpu_mmengine_runs_unchanged(monkeypatch):
    """With CUDA available the patch hands over to MMEngine's own function
    (which selects the GPU of LOCAL_RANK), whatever the backend."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    calls = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: calls.append('group'))
    cpu_distributed._init_dist_pytorch_cpu(
        lambda *args, **kwargs: calls.append((args, kwargs)), 'nccl',
        timeout=60)
    assert calls == [(('nccl', ), dict(init_backend='torch', timeout=60))]
