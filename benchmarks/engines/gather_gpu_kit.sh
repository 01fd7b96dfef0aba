#!/usr/bin/env bash
# Gather here (with internet) what gpu_check.sh needs on a GPU machine without internet:
#
#   benchmarks/engines/gather_gpu_kit.sh [KIT_DIR]        # default .cache/gpu_kit (git-ignored)
#
# The GPU machine's Python 3.12 already has torch (CUDA), onnxruntime, opencv-python-headless,
# numpy, typer, rich, safetensors, psutil, matplotlib, pytest and onnx (shared DESIGN.md, "The
# lent GPU machine"). The kit brings the rest:
#   wheels/    mediapipe, pyvirtualcam, platformdirs, tomli-w as cp312 manylinux x86_64 wheels
#              (--no-deps: their other requirements are either there or not imported by us), and
#              latentcam itself as a wheel built from this checkout (installed there with --no-deps,
#              so pip never pulls opencv-python next to the machine's opencv-python-headless)
#   testdata/  the sample clips and photos (sha256-checked by scripts/fetch_test_data.py), which
#              the tests and `latentcam bench` need
#   SHA256SUMS of everything above
# Then carry KIT_DIR (and the repository) to the GPU machine and run gpu_check.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT="${1:-.cache/gpu_kit}"
PY="${PYTHON:-.venv/bin/python}"
# Versions tested on the development machine (pyproject.toml pins mediapipe; the others are floors).
MEDIAPIPE=mediapipe==0.10.31
PYVIRTUALCAM=pyvirtualcam==0.15.0
PLATFORMDIRS=platformdirs==4.14.9
TOMLI_W=tomli-w==1.2.0

rm -rf "$KIT"
mkdir -p "$KIT/wheels" "$KIT/testdata"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any \
    -d "$KIT/wheels" "$MEDIAPIPE" "$PYVIRTUALCAM" "$PLATFORMDIRS" "$TOMLI_W"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$KIT/wheels" .
rm -rf build   # setuptools' work folder
"$PY" scripts/fetch_test_data.py --dest .cache/testdata
cp .cache/testdata/* "$KIT/testdata/"
(cd "$KIT" && find wheels testdata -type f | sort | xargs sha256sum > SHA256SUMS)
ls -l "$KIT/wheels"
du -sh "$KIT"
echo "kit ready in $KIT: carry it with the repository and run benchmarks/engines/gpu_check.sh there"
