"""The CPU path of MMEngine's `pytorch` launcher (the 2-process training run
is in tests/test_training_robustness.py). On a host with a GPU `import mmdtf`
leaves the launcher alone; the tests of the CPU path install it themselves
there (and MMEngine's device checks see no GPU, as tests/cuda_marker.py
arranges for tests not marked `cuda`)."""
import pytest
import torch
from mmengine.dist import utils as dist_utils

from cuda_marker import DEVICE_COUNT  # tests/cuda_marker.py

from mmdtf.compat import cpu_init_dist


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without CUDA (or another accelerator MMEngine knows), also
    where the test runs on one: what MMEngine's device checks consult."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for name in ('is_cuda_available', 'is_npu_available', 'is_mlu_available',
                 'is_musa_available'):
        monkeypatch.setattr(cpu_init_dist, name, lambda: False)


def test_installed_at_import_where_there_is_no_gpu():
    installed = getattr(dist_utils._init_dist_pytorch, '_mmdtf_cpu', False)
    assert installed == (DEVICE_COUNT == 0)


@pytest.fixture
def without_gpu_set_device(monkeypatch):
    def set_device(index):
        raise RuntimeError('No CUDA GPUs are available')
    monkeypatch.setattr(torch.cuda, 'set_device', set_device)


@pytest.fixture
def cpu_launcher(monkeypatch, no_gpu, without_gpu_set_device):
    """MMEngine's launcher with the CPU path installed (by `import mmdtf`,
    or here on a GPU host; put back after the test)."""
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch',
                        dist_utils._init_dist_pytorch)
    assert cpu_init_dist.apply()
    return dist_utils._init_dist_pytorch


def test_installed_once(cpu_launcher):
    assert getattr(cpu_launcher, '_mmdtf_cpu', False)
    assert cpu_init_dist.apply()
    assert dist_utils._init_dist_pytorch is cpu_launcher  # idempotent


def test_nccl_without_gpu_says_what_to_set(monkeypatch, cpu_launcher):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    with pytest.raises(RuntimeError) as error:
        cpu_launcher('nccl')
    assert "env_cfg.dist_cfg.backend is 'nccl'" in str(error.value)
    assert 'env_cfg.dist_cfg.backend=gloo' in str(error.value)
    assert not started


def test_gloo_without_gpu_starts_the_process_group(monkeypatch,
                                                   cpu_launcher):
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    cpu_launcher('gloo', timeout=60)
    assert started == [dict(backend='gloo', rank=1, world_size=2,
                            timeout=60)]


def test_with_a_gpu_mmengine_runs_unchanged(monkeypatch):
    """With CUDA available the patch hands over to MMEngine's own function
    (which selects the GPU of LOCAL_RANK), whatever the backend."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    calls = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: calls.append('group'))
    cpu_init_dist._init_dist_pytorch_cpu(
        lambda *args, **kwargs: calls.append((args, kwargs)), 'nccl',
        timeout=60)
    assert calls == [(('nccl', ), dict(init_backend='torch', timeout=60))]


def _fixed_upstream(backend, init_backend='torch', **kwargs):
    """An MMEngine whose launcher starts gloo without GPUs."""
    dist_utils.torch_dist.init_process_group(backend=backend, **kwargs)


def _mmengine_0_10(backend, init_backend='torch', **kwargs):
    torch.cuda.set_device(0)  # what MMEngine 0.10.7 does first, as here
    raise AssertionError('a machine without GPUs cannot get here')


def test_probe(monkeypatch, no_gpu, without_gpu_set_device):
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', _mmengine_0_10)
    assert cpu_init_dist.defect_present()
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', _fixed_upstream)
    assert not cpu_init_dist.defect_present()
    # the probe started no process group and put MMEngine's module back
    assert dist_utils.torch_dist is torch.distributed
    assert not torch.distributed.is_initialized()


def test_probe_on_mmengine_itself(monkeypatch, no_gpu, without_gpu_set_device):
    launcher = dist_utils._init_dist_pytorch
    original = launcher.args[0] if hasattr(launcher, 'args') else launcher
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', original)
    assert cpu_init_dist.defect_present()  # MMEngine 0.10.7


def test_no_op_when_mmengine_starts_gloo(monkeypatch, no_gpu):
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', _fixed_upstream)
    assert cpu_init_dist.apply() is False
    assert dist_utils._init_dist_pytorch is _fixed_upstream


def test_no_op_with_a_gpu(monkeypatch):
    monkeypatch.setattr(cpu_init_dist, '_has_accelerator', lambda: True)
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', _mmengine_0_10)
    assert cpu_init_dist.apply() is False
    assert dist_utils._init_dist_pytorch is _mmengine_0_10


def test_patches_when_mmengine_fails(monkeypatch, no_gpu,
                                     without_gpu_set_device):
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', _mmengine_0_10)
    assert cpu_init_dist.apply() is True
    patched = dist_utils._init_dist_pytorch
    assert patched.args == (_mmengine_0_10, )
    started = []
    monkeypatch.setattr(dist_utils.torch_dist, 'init_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    patched('gloo')
    assert started == [dict(backend='gloo', rank=0, world_size=1)]
