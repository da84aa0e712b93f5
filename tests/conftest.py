"""Shared test set-up: import mmdtf once (registers models, patches MMAction2)
and keep MMEngine's per-parameter init logging out of the output."""
import logging
import os
import sys
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

import mmdtf  # noqa: F401

# Test modules `import helpers` (tests/helpers.py). tests/ is no package: an
# installed distribution ships a top-level `tests` package that would shadow
# it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# One PyTorch thread unless OMP_NUM_THREADS says otherwise (as the
# subprocesses run, helpers.subprocess_env): the tests' tensors are small,
# and where the cores are busy (shared CI runners) a second OpenMP thread
# spins waiting for its core. On a 2-core machine under load,
# tests/models/backbones/test_swin_dtf.py took 3.5x the CPU time and 6x the
# wall time with 2 threads as with 1.
if 'OMP_NUM_THREADS' not in os.environ:
    torch.set_num_threads(1)

# `pytester`: tests of the tools' pytest plugins run pytest in-process
pytest_plugins = ['pytester']

# As MMAction2's tools do: nested configs (data preprocessors, heads) build
# from MMAction2's registries.
init_default_scope('mmaction')


@pytest.fixture(autouse=True)
def _quiet_mmengine():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def _keep_global_flags():
    import helpers
    flags = helpers.global_flags()
    yield
    helpers.restore_global_flags(flags)


# What a test sets process-wide (a Runner's deterministic algorithms and
# cuDNN flags, the default dtype, threads, grad and anomaly mode, the
# environment) does not reach the next test; what a module-scoped fixture
# sets does not reach the next module.
_restore_global_flags = pytest.fixture(autouse=True)(_keep_global_flags)
_restore_global_flags_per_module = pytest.fixture(
    autouse=True, scope='module')(_keep_global_flags)


def pytest_configure(config):
    # `-m "not slow"` deselects them for a quick run; CI runs everything.
    config.addinivalue_line(
        'markers', 'slow: a test of minutes (CI still runs it)')
    # tests that need a GPU; MMDTF_REQUIRE_CUDA=N fails their skips
    import cuda_marker
    config.pluginmanager.register(cuda_marker, 'mmdtf_cuda_marker')
