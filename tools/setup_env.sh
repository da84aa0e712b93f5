#!/usr/bin/env bash
# Create (or update) the virtual environment .venv with mmdtf installed in
# editable mode and its pinned dependencies. Nothing needs to be installed by
# hand first: only Python 3.10-3.12 with venv.
#   TORCH_SPEC  torch requirement (default torch==2.13.0; on the project's
#               CPU machines that is a local CPU build)
#   MMDTF_VENV  where the environment goes (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
venv=${MMDTF_VENV:-.venv}
torch_spec=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x "$venv/bin/python" ]; then
  "$python_bin" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q --upgrade pip 'setuptools<81' wheel
# torch first, so that the mmdtf install does not pull a different build.
python -m pip install -q "$torch_spec"
python -m pip install -q -e '.[tests]'
python -c 'import mmdtf, torch; print(f"mmdtf {mmdtf.__version__} ready (torch {torch.__version__})")'
