#!/usr/bin/env bash
# One command for a bare NVIDIA GPU machine without internet access:
#
#   benchmarks/engines/gpu_check.sh            # from anywhere; run gather_gpu_kit.sh first, elsewhere
#
# 1. installs what the machine's Python lacks from the kit folder (gather_gpu_kit.sh: wheels +
#    sample clips), offline, into a folder put in front of PYTHONPATH, so the machine's own torch,
#    onnxruntime and opencv are used; every wheel with --no-deps, so pip never pulls
#    opencv-python next to the machine's opencv-python-headless;
# 2. runs the engines test suite, where the `gpu`-marked tests run instead of skipping;
# 3. runs the decoder benchmark (every backend that can run here, cpu and gpu presets, 256²/512²);
# 4. runs `latentcam bench` with the torch engine (and onnxruntime to compare) on the sample clip:
#    the whole pipeline's end-to-end latency on a GPU machine;
# and writes every result and log into ONE folder: $OUT/gpu_check-<host>-<UTC time> when $OUT is
# set (e.g. by a job runner), else benchmarks/engines/results/gpu_check-<host>-<UTC time>.
# Each step has its own time limit (20 + 60 + 30 + 140 + 80 + 140 = 470 s) so the whole run stays
# within 8 minutes; a failing step is
# recorded in summary.md and the next one still runs. Exit code: 0 when every step passed.
#
# Environment: PYTHON (interpreter with CUDA torch; default: the first of python3.12, python3,
# python that imports torch), GPU_KIT (default .cache/gpu_kit), SITE (where the kit's wheels are
# installed and put on PYTHONPATH; default /tmp/latentcam-gpu-site).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO="$(pwd)"
KIT="${GPU_KIT:-$REPO/.cache/gpu_kit}"
SITE="${SITE:-/tmp/latentcam-gpu-site}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
RESULTS="${OUT:-$REPO/benchmarks/engines/results}/gpu_check-$(hostname)-$STAMP"
mkdir -p "$RESULTS"
# The checkout's latentcam/ folder must not shadow the installed package (its subpackages live in
# other folders): never put the working directory on sys.path (Python >= 3.11).
export PYTHONSAFEPATH=1
SUMMARY="$RESULTS/summary.md"
START=$SECONDS
FAILED=0

step() {   # step NAME LIMIT_S COMMAND... : run with a time limit, log to NAME.log, record the result
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  echo "== $name (limit ${limit}s)" | tee -a "$RESULTS/gpu_check.log"
  timeout --kill-after=10 "$limit" "$@" > "$RESULTS/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$RESULTS/$name.log" >> "$RESULTS/gpu_check.log"
  local verdict="ok"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="TIMED OUT after ${limit}s"; FAILED=1
  elif [ "$rc" -ne 0 ]; then verdict="FAILED (exit $rc)"; FAILED=1; fi
  echo "| $name | $verdict | $((SECONDS - t0)) s | \`$name.log\` |" >> "$SUMMARY"
  echo "== $name: $verdict" | tee -a "$RESULTS/gpu_check.log"
  return $rc
}

{
  echo "# GPU check $(date -u +%FT%TZ) on $(hostname)"
  echo
  echo "Repository commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "| step | result | time | log |"
  echo "|---|---|---|---|"
} > "$SUMMARY"

# --- 0. the machine -------------------------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  for candidate in python3.12 python3 python; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "import torch" 2>/dev/null; then
      PYTHON="$(command -v "$candidate")"; break
    fi
  done
fi
if [ -z "${PYTHON:-}" ]; then
  echo "no Python with torch found: set PYTHON=/path/to/python" | tee -a "$SUMMARY"; exit 2
fi
machine() {
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || echo "nvidia-smi failed"
  "$PYTHON" - <<'PY'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
else:
    raise SystemExit("torch sees no CUDA GPU here")
PY
  local rc=$?
  nproc; uptime
  return $rc
}
export PYTHON KIT SITE REPO
export -f machine
step machine 20 bash -c machine

# --- 1. offline install ---------------------------------------------------------------------------
install() {
  set -e
  test -d "$KIT/wheels" || { echo "kit not found at $KIT: run benchmarks/engines/gather_gpu_kit.sh where there is internet and carry $KIT here"; exit 2; }
  (cd "$KIT" && sha256sum --check --quiet SHA256SUMS)
  rm -rf "$SITE"
  mkdir -p "$SITE"
  # Only the wheels the machine lacks, into a folder put in front of PYTHONPATH (works whether
  # $PYTHON is a system, conda or venv interpreter); never opencv-python (it would shadow
  # opencv-python-headless): every wheel --no-deps.
  wheels=()
  for dist in mediapipe pyvirtualcam platformdirs tomli-w; do
    if ! "$PYTHON" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$dist" 2>/dev/null; then
      wheels+=("$dist")
    fi
  done
  wheels+=(latentcam)
  echo "installing from $KIT/wheels: ${wheels[*]}"
  if "$PYTHON" -m pip --version >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --no-index --find-links "$KIT/wheels" --no-deps --no-build-isolation \
      --no-compile --target "$SITE" "${wheels[@]}"
  else   # no pip: a wheel is a zip archive of the package (none of these needs a build step)
    "$PYTHON" - "$KIT/wheels" "$SITE" "${wheels[@]}" <<'PY'
import sys, zipfile
from pathlib import Path
wheels, site, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
for name in names:
    (wheel,) = wheels.glob(name.replace("-", "_") + "-*.whl")
    zipfile.ZipFile(wheel).extractall(site)
    print("unpacked", wheel.name)
PY
  fi
  mkdir -p "$REPO/.cache/testdata"
  cp -n "$KIT/testdata/"* "$REPO/.cache/testdata/"
  PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$REPO" <<'PY'
import importlib.metadata as md, sys
from pathlib import Path
repo = Path(sys.argv[1])
def installed(dist):
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False
cv2_dists = [d for d in ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                         "opencv-contrib-python-headless") if installed(d)]
print("cv2 providers:", cv2_dists)
if len(cv2_dists) != 1:
    raise SystemExit("expected exactly one cv2 provider, found: " + (", ".join(cv2_dists) or "none"))
import cv2, mediapipe, numpy, onnxruntime, pyvirtualcam, torch, latentcam
print("cv2", cv2.__version__, "mediapipe", mediapipe.__version__, "numpy", numpy.__version__,
      "onnxruntime", onnxruntime.__version__, "torch", torch.__version__, "latentcam", latentcam.__file__)
# The installed wheel must be this checkout's code (gather_gpu_kit.sh builds it): compare sources.
site = Path(latentcam.__file__).resolve().parent
layout = {"latentcam": "", "facekit": "facekit", "latent": "latent", "engines": "engines",
          "calibration": "calibration", "realtime": "realtime"}
stale = [f"{folder}/{src.name}" for folder, sub in layout.items() for src in (repo / folder).glob("*.py")
         if not (site / sub / src.name).is_file() or (site / sub / src.name).read_bytes() != src.read_bytes()]
if stale:
    raise SystemExit(f"the kit's latentcam wheel is not this checkout ({len(stale)} files differ, e.g. "
                     f"{stale[:3]}): rerun benchmarks/engines/gather_gpu_kit.sh")
print("installed latentcam matches the checkout")
PY
  ls "$SITE"
}
export -f install
step install 60 bash -c install || { echo "install failed: see $RESULTS/install.log"; exit 1; }
VPY="$PYTHON"
# Tests and benchmarks import the installed package (the checkout's folders are not importable as
# latentcam.*), with the kit's wheels in front of the machine's packages.
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 GLOG_minloglevel=2 OPENCV_LOG_LEVEL=OFF

step engines 30 "$VPY" -m latentcam.cli engines

# --- 2. GPU tests ---------------------------------------------------------------------------------
step gpu_tests 140 "$VPY" -m pytest -p no:cacheprovider -rs -v --junitxml="$RESULTS/gpu_tests.xml" \
  tests/test_engines.py tests/test_engines_cache.py

# --- 3. decoder benchmark -------------------------------------------------------------------------
step decoder_bench 80 "$VPY" benchmarks/engines/bench_decoders.py --presets cpu,gpu --sizes 256,512 \
  --threads 2 --seconds 3 --no-variants --out "$RESULTS"

# --- 4. the whole pipeline with the torch engine --------------------------------------------------
step pipeline_bench 140 "$VPY" -m latentcam.cli bench --engines torch,onnxruntime --frames 240 \
  --clip "$REPO/.cache/testdata/WolfgangLanger_Pexels.mp4" --out "$RESULTS/pipeline" --no-record-choice

{
  echo
  echo "Total: $((SECONDS - START)) s. Files:"
  (cd "$RESULTS" && find . -type f | sort | sed 's/^/- /')
} >> "$SUMMARY"
cat "$SUMMARY"
exit $FAILED
