"""Let MMEngine's ``pytorch`` launcher start CPU-only (gloo) training.

Upstream: no MMEngine issue or fix known (``mmengine/dist/utils.py``,
``_init_dist_pytorch``). Affects: MMEngine 0.10.x (0.10.7 checked) on a
machine without CUDA or another accelerator MMEngine knows. Detected by
probing: MMEngine's own function is run once with the process-group start
replaced by a stand-in; if it fails before reaching it, the defect is there.

MMEngine 0.10's ``init_dist`` selects a GPU per process
(``torch.cuda.set_device(LOCAL_RANK)``) before ``init_process_group``, so on
a machine without CUDA ``--launcher pytorch`` dies with
``AttributeError: module 'torch._C' has no attribute '_cuda_setDevice'``
(CPU build of PyTorch) or ``RuntimeError: No CUDA GPUs are available``,
whatever ``env_cfg.dist_cfg.backend`` says.

Where no CUDA device is available we skip that device selection and start
the ``gloo`` process group as MMEngine would; with a GPU, or any other
accelerator MMEngine knows, MMEngine's own function runs unchanged. The
launcher (``torch.distributed.launch`` / ``torchrun`` via ``mim train
--launcher pytorch``) and everything after ``init_process_group`` stay
MMEngine's and PyTorch's.

On CPU the model wrapper must not be given GPU ids either: configs set
``model_wrapper_cfg = dict(type='MMDistributedDataParallel',
broadcast_buffers=False, device_ids=None)`` (valid on GPUs too).
"""
import contextlib
import functools
import os
import types

from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.dist import utils as dist_utils
from torch import distributed as torch_dist

CPU_BACKEND = 'gloo'


def _has_accelerator() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _init_dist_pytorch_cpu(init_dist_pytorch, backend, init_backend='torch',
                           **kwargs) -> None:
    if _has_accelerator() or init_backend != 'torch':
        return init_dist_pytorch(backend, init_backend=init_backend, **kwargs)
    if backend != CPU_BACKEND:
        raise RuntimeError(
            f'Distributed training without a GPU needs the {CPU_BACKEND!r} '
            f'backend, but env_cfg.dist_cfg.backend is {backend!r}: set '
            f"`env_cfg = dict(dist_cfg=dict(backend='{CPU_BACKEND}'))` in "
            'the config or pass `--cfg-options '
            f'env_cfg.dist_cfg.backend={CPU_BACKEND}`.')
    torch_dist.init_process_group(
        backend=backend,
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)


UPSTREAM = 'none filed (mmengine/dist/utils.py _init_dist_pytorch)'
AFFECTS = 'mmengine 0.10.x (0.10.7 checked), no CUDA/NPU/MLU/MUSA device'


class _Reached(Exception):
    """Raised by the stand-in process-group start of the probe."""


@contextlib.contextmanager
def _single_process_env():
    names = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1')
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def defect_present() -> bool:
    """Whether MMEngine's ``pytorch`` launcher fails on this machine before
    starting a ``gloo`` process group."""
    if _has_accelerator():
        return False  # MMEngine's own path works where it finds a device
    init_dist_pytorch = dist_utils._init_dist_pytorch
    if getattr(init_dist_pytorch, '_mmdtf_cpu', False):
        init_dist_pytorch = init_dist_pytorch.args[0]  # MMEngine's own

    def reached(*args, **kwargs):
        raise _Reached

    torch_dist_module = dist_utils.torch_dist
    dist_utils.torch_dist = types.SimpleNamespace(init_process_group=reached)
    try:
        with _single_process_env():
            init_dist_pytorch(CPU_BACKEND)
    except _Reached:
        return False
    except Exception:  # e.g. torch.cuda.set_device without CUDA
        return True
    finally:
        dist_utils.torch_dist = torch_dist_module
    return False


def apply() -> bool:
    """Install the CPU path of MMEngine's ``pytorch`` launcher where MMEngine
    lacks one (idempotent); returns whether it is in place."""
    current = dist_utils._init_dist_pytorch
    if getattr(current, '_mmdtf_cpu', False):
        return True
    if not defect_present():
        return False
    patched = functools.partial(_init_dist_pytorch_cpu, current)
    patched._mmdtf_cpu = True
    dist_utils._init_dist_pytorch = patched
    return True
