#!/usr/bin/env bash
# The GPU check: one command on a GPU host, one table
# (docs/internals/testing.md).
#
#   bash tools/gpu_check.sh [--dry-run] [--wheels DIR] [OUT_DIR]
#   bash tools/gpu_check.sh --fetch-wheels DIR      # on a machine with network
#
# Installs mmdtf (editable) with `.[tests,cudaNN]`, the CuPy extra of the CUDA
# major version PyTorch was built with (torch.version.cuda; torch itself is
# kept), then runs tools/dev/gpu_check.py: the CUDA tests with
# MMDTF_REQUIRE_CUDA, FA's CuPy kernels against the PyTorch path and the
# naive reference, FA and
# DTF-Net R50 timings, a demo epoch through `mim train --amp`, a compiled
# DTF-Net R50 step; within 8 minutes of the start on one H100 (each step is
# killed at its limit). Logs and the table go to OUT_DIR (default: $OUT, else
# ./gpu_check_out): gpu_check.log, gpu_check.md, gpu_check.json.
#
#   --dry-run          print the plan and check the environment; install and
#                      run nothing (exit 0 either way)
#   --wheels DIR       offline: install the carried wheels of DIR as they are
#                      (no index, no dependency resolution), then mmdtf
#                      without dependencies; a machine with no network needs
#                      what its image lacks there (see --fetch-wheels)
#   --fetch-wheels DIR download into DIR the wheels of mmdtf's dependencies
#                      that a PyTorch GPU image lacks, for Python
#                      $WHEEL_PYTHON (default 3.12) on manylinux x86-64;
#                      the CuPy wheel too with WHEEL_CUDA=12 or 13 (70-140 MB)
# Exit status: 0 when every row of the table passes.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
python_bin=${PYTHON:-python3}
dry_run=0
wheels=
out=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --wheels) wheels=$2; shift ;;
    --fetch-wheels)
      exec "$python_bin" -m pip download --no-deps --only-binary=:all: \
        --python-version "${WHEEL_PYTHON:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 \
        --platform manylinux1_x86_64 -d "$2" \
        'mmengine>=0.10.0,<0.11.0' 'mmcv-lite>=2.0.0,<2.2.0' \
        'mmaction2==1.2.0' 'decord>=0.6.0' 'openmim>=0.3.9' \
        addict yapf termcolor platformdirs model-index ordered-set \
        importlib_metadata 'setuptools<81' ninja \
        ${WHEEL_CUDA:+"cupy-cuda${WHEEL_CUDA}x>=14.0,<15"} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done
out=${out:-gpu_check_out}

# The CuPy extra of the installed torch's CUDA major version.
read -r torch_version torch_cuda < <("$python_bin" -c \
  'import torch; print(torch.__version__, torch.version.cuda or "none")' \
  2>/dev/null || echo "none none")
case "$torch_cuda" in
  12.*|13.*) extras="tests,cuda${torch_cuda%%.*}" ;;
  *) extras=tests ;;
esac
echo "torch $torch_version, CUDA $torch_cuda: installing mmdtf with .[$extras]"

# pip keeps the installed torch (a constraint file), builds mmdtf with the
# environment's setuptools (no isolated build environment to download).
constraint=${TMPDIR:-/tmp}/gpu_check_torch_constraint.txt
pip=("$python_bin" -m pip install --no-build-isolation)
if [ -n "$wheels" ]; then
  commands=("${pip[*]} --no-index --no-deps $wheels/*.whl"
            "${pip[*]} --no-index --no-deps -e .")
else
  commands=("${pip[*]} -c $constraint -e .[$extras]")
fi
if [ "$dry_run" = 1 ]; then
  echo "($constraint: torch==$torch_version)"
  printf 'would run: %s\n' "${commands[@]}"
  [ -z "$wheels" ] || ls "$wheels"/*.whl >/dev/null 2>&1 \
    || echo "no wheels in $wheels"
  exec "$python_bin" tools/dev/gpu_check.py --dry-run --out "$out"
fi
mkdir -p "$out"
echo "torch==$torch_version" > "$constraint"
for command in "${commands[@]}"; do
  echo "\$ $command" | tee -a "$out/gpu_check.log"
  # shellcheck disable=SC2086  # the wheel glob
  if ! $command >> "$out/gpu_check.log" 2>&1; then
    echo "installation failed; the end of $out/gpu_check.log:" >&2
    tail -n 20 "$out/gpu_check.log" >&2
    exit 1
  fi
done
PYTHONUNBUFFERED=1 exec "$python_bin" tools/dev/gpu_check.py --out "$out" \
  --started-at "$started"
