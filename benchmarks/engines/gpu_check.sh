#!/usr/bin/env bash
# Run the engines' GPU tests and the decoder benchmark on a machine with an NVIDIA GPU.
#
#   benchmarks/engines/gpu_check.sh            # from the repo root, with the venv in .venv
#   PYTHON=/path/to/python benchmarks/engines/gpu_check.sh
#
# Needs: an NVIDIA driver, a CUDA build of torch (not the CPU wheel), cuda-python, and
#   pip install "latentcam[tensorrt-rtx]"                                   (RTX GPUs, sm_75..sm_121)
#   pip install --extra-index-url https://pypi.nvidia.com tensorrt        (full TensorRT, any GPU)
# Backends that are not installed or do not support the GPU are skipped with the reason.
# Results: benchmarks/engines/results/decoders-<host>-<date>.{json,md} and gpu_check-<host>.log
set -uo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
OUT=benchmarks/engines/results
mkdir -p "$OUT"
LOG="$OUT/gpu_check-$(hostname).log"

{
  echo "== $(date -u +%FT%TZ) on $(hostname)"
  if ! command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi not found: this check needs an NVIDIA GPU and driver"; exit 2
  fi
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
  "$PY" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not torch.cuda.is_available():
    raise SystemExit("torch has no CUDA here: install a CUDA build of torch (see pytorch.org)")
PY
  "$PY" -m latentcam.cli engines
  echo "== GPU tests (and the rest of the engines suite)"
  "$PY" -m pytest -v -rs tests/test_engines.py tests/test_engines_cache.py
  tests_rc=$?
  echo "== benchmark"
  "$PY" benchmarks/engines/bench_decoders.py --presets cpu,gpu --sizes 256,512 --threads 2 --seconds 6 --out "$OUT"
  bench_rc=$?
  echo "== tests rc=$tests_rc benchmark rc=$bench_rc"
  exit $(( tests_rc || bench_rc ))
} 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
