"""The ``cuda`` marker (a pytest plugin, registered by conftest.py).

A test that needs a GPU says so::

    @pytest.mark.cuda                 # one CUDA device
    @pytest.mark.cuda(devices=2)      # two
    @pytest.mark.cuda(cupy=True)      # and FA's CuPy kernels working

Where the host lacks it, the test is skipped with the reason. With
``MMDTF_REQUIRE_CUDA=N`` every ``cuda`` test needing at most N devices must
run instead: one that lacks what it needs fails at set-up (an error, before
its fixtures run), and any other skip of such a test (a ``skipif``,
``pytest.skip``) is turned into a failure, so a GPU run cannot be green by
skipping. ``tools/gpu_check.sh`` sets N to the
host's device count.

On a host with a GPU, every test *not* marked ``cuda`` runs as on a
CPU-only machine: in its process PyTorch reports no CUDA device and MMEngine
places models on the CPU, and its subprocesses get ``CUDA_VISIBLE_DEVICES=''``.
Their expectations (deterministic training with MMAction2's heads, whose
adaptive pooling has no deterministic CUDA backward; CPU process groups;
bfloat16 CPU autocast; 2 ranks on one host) were written for the CPU; the
GPU has its own tests.
"""
import os
from typing import Optional

import pytest
import torch

REQUIRE_ENV = 'MMDTF_REQUIRE_CUDA'
# A CUDA run with deterministic algorithms (randomness.deterministic=True,
# torch.use_deterministic_algorithms) needs it for cuBLAS, set before cuBLAS
# starts (here, in this process and the subprocesses of tests).
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
#: the CUDA devices of this host, counted before any test hides them
DEVICE_COUNT = torch.cuda.device_count() if torch.cuda.is_available() else 0
_HIDDEN = pytest.StashKey[pytest.MonkeyPatch]()


def required_devices() -> int:
    """N of ``MMDTF_REQUIRE_CUDA=N`` (0 when unset)."""
    value = os.environ.get(REQUIRE_ENV, '').strip()
    if not value:
        return 0
    if not value.isdigit():
        raise pytest.UsageError(
            f'{REQUIRE_ENV} must be a number of CUDA devices, e.g. '
            f'{REQUIRE_ENV}=1, got {value!r}')
    return int(value)


def _devices(marker) -> int:
    return marker.kwargs.get('devices', 1)


def missing(marker) -> Optional[str]:
    """What this host lacks for a test with ``marker``, or None."""
    devices = _devices(marker)
    if DEVICE_COUNT < devices:
        return (f'needs {devices} CUDA device(s), this host has '
                f'{DEVICE_COUNT}')
    if marker.kwargs.get('cupy', False):
        from mmdtf.ops.frame_aggregation.cupy_kernel import (
            cupy_unavailable_reason, install_hint)
        reason = cupy_unavailable_reason(torch.device('cuda', 0))
        if reason is not None:
            return f'needs CuPy: {reason} ({install_hint()})'
    return None


def hide_gpus(patch: pytest.MonkeyPatch) -> None:
    """What a CPU-only machine shows: no CUDA device to PyTorch, MMEngine
    and subprocesses."""
    import mmengine.device.utils as mmengine_device
    patch.setattr(torch.cuda, 'is_available', lambda: False)
    patch.setattr(mmengine_device, 'DEVICE', 'cpu')
    patch.setenv('CUDA_VISIBLE_DEVICES', '')


def _required(item) -> bool:
    marker = item.get_closest_marker('cuda')
    return marker is not None and _devices(marker) <= required_devices()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    marker = item.get_closest_marker('cuda')
    if marker is None:
        if DEVICE_COUNT:  # before the fixtures, module-scoped ones included
            patch = pytest.MonkeyPatch()
            hide_gpus(patch)
            item.stash[_HIDDEN] = patch
        return
    reason = missing(marker)
    if reason is not None:  # before the fixtures, which may need the GPU
        if _required(item):
            pytest.fail(f'{REQUIRE_ENV}={required_devices()}: this CUDA '
                        f'test cannot run here: {reason}', pytrace=False)
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _required(item):
        reason = (report.longrepr[2] if isinstance(report.longrepr, tuple)
                  else str(report.longrepr))
        report.outcome = 'failed'
        report.longrepr = (f'{REQUIRE_ENV}={required_devices()}: this CUDA '
                           f'test was skipped ({reason})')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    patch = item.stash.get(_HIDDEN, None)
    if patch is not None:
        patch.undo()
