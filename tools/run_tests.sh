#!/usr/bin/env bash
# The test command of README.md (and of CI): set up .venv, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. "${MMDTF_VENV:-.venv}/bin/activate"
# every test: pyproject.toml's addopts leave the slow ones out of a bare
# `pytest`; the 30 slowest printed at the end
python -m pytest -q --durations=30 -m 'slow or not slow' tests "$@"
