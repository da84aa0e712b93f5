#!/usr/bin/env bash
# Create (or update) the virtual environment .venv with mmdtf installed in
# editable mode and its pinned dependencies. Nothing needs to be installed by
# hand first: only Python 3.10-3.12 with venv.
#   TORCH_SPEC  torch requirement (default torch==2.13.0; on the project's
#               CPU machines that is a local CPU build)
#   MMDTF_VENV  where the environment goes (default .venv)
# Each step prints one line when it starts and its time when it ends; pip's
# full output goes to $MMDTF_VENV/setup.log (its tail is shown on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
venv=${MMDTF_VENV:-.venv}
torch_spec=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup 0/3] creating the virtual environment $venv"
  "$python_bin" -m venv "$venv"
fi
log="$venv/setup.log"
: > "$log"
echo "[setup] pip's output: $log"

step() {  # step N "what" command...: one line, the time taken, tail on error
  local n=$1 what=$2 start=$SECONDS
  shift 2
  echo "[setup $n/3] $what ..."
  if ! "$@" >> "$log" 2>&1; then
    echo "[setup $n/3] FAILED: $what; the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "[setup $n/3] done in $((SECONDS - start)) s"
}

# shellcheck disable=SC1091
. "$venv/bin/activate"
step 1 "pip, setuptools<81, wheel" \
  python -m pip install --upgrade pip 'setuptools<81' wheel
# torch first, so that the mmdtf install does not pull a different build.
step 2 "$torch_spec (the largest download; about a minute)" \
  python -m pip install "$torch_spec"
# With a CUDA build of torch, the CuPy wheel of its CUDA major version too
# (FA's CUDA kernels): without it the CUDA tests would skip.
cuda_major=$(python -c 'import torch; print((torch.version.cuda or "").split(".")[0])')
extras=tests
case "$cuda_major" in
  12|13) extras="tests,cuda$cuda_major" ;;
  "") ;;
  *) echo "[setup] torch is built for CUDA $cuda_major: no CuPy extra for it" \
       "(cuda12, cuda13); FA runs its PyTorch path on the GPU" ;;
esac
step 3 "mmdtf (editable) with MMAction2, MMEngine, mmcv-lite, test tools [$extras]" \
  python -m pip install -e ".[$extras]"
python -c 'import mmdtf, torch; print(f"mmdtf {mmdtf.__version__} ready (torch {torch.__version__})")'
