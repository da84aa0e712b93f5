"""The CPU path of MMEngine's `pytorch` launcher (the 2-process training run
is in tests/test_training_robustness.py)."""
import pytest
import torch
from mmengine.dist import utils as dist_utils

from mmdtf.engine import enable_cpu_distributed


def test_installed_once():
    patched = dist_utils._init_dist_pytorch
    assert getattr(patched, '_mmdtf_cpu', False)
    assert enable_cpu_distributed()
    assert dist_utils._init_dist_pytorch is patched  # idempotent


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU case')
def test_nccl_without_gpu_says_what_to_set(monkeypatch):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    with pytest.raises(RuntimeError) as error:
        dist_utils._init_dist_pytorch('nccl')
    assert "env_cfg.dist_cfg.backend is 'nccl'" in str(error.value)
    assert 'env_cfg.dist_cfg.backend=gloo' in str(error.value)
    assert not started


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU case')
def test_gloo_without_gpu_starts_the_process_group(monkeypatch):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    dist_utils._init_dist_pytorch('gloo', timeout=60)
    assert started == [dict(backend='gloo', rank=1, world_size=2,
                            timeout=60)]
