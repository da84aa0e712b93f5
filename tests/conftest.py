"""Shared test set-up: import mmdtf once (registers models, patches MMAction2)
and keep MMEngine's per-parameter init logging out of the output."""
import logging
import sys
from pathlib import Path

import pytest

from mmengine.registry import init_default_scope

import mmdtf  # noqa: F401

# Test modules `import helpers` (tests/helpers.py). tests/ is no package: an
# installed distribution ships a top-level `tests` package that would shadow
# it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def pytest_configure(config):
    # `-m "not slow"` deselects them for a quick run; CI runs everything.
    config.addinivalue_line(
        'markers', 'slow: a test of minutes (CI still runs it)')
