#!/usr/bin/env bash
# The demo of README.md: set up .venv, write the synthetic dataset, train
# TSN, C2D and DTF-Net with `mim train mmaction2`, test each with `mim test`
# (10 clips x 3 crops) and print their top-1 accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. "${MMDTF_VENV:-.venv}/bin/activate"
python tools/demo/run_demo.py "$@"
