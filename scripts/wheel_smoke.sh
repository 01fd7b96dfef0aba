#!/usr/bin/env bash
# The wheel as a new user gets it: build it, install it into a fresh virtual environment without
# torch, and from an empty folder run `latentcam demo` (must refuse: no samples, nothing is
# downloaded unasked), `latentcam samples`, `latentcam demo` (must write demo.mp4) and
# `latentcam prepare --photo` on the sample photo with the sample clips as drivers and with --drivers.
# Also checks what the wheel holds: the face/hand models and the default target, no test media.
#
#   scripts/wheel_smoke.sh            # uses python3; PYTHON=... to choose another
#   KEEP=1 scripts/wheel_smoke.sh     # keep the work folder (printed) for a look
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
[ "${KEEP:-0}" = 1 ] && echo "work folder: $WORK" || trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)
step() { echo "[wheel-smoke +$(( $(date +%s) - t0 ))s] $*"; }

step "building the wheel"
"$PY" -m venv "$WORK/build-env"
"$WORK/build-env/bin/pip" wheel -q --no-deps -w "$WORK/dist" "$REPO"
rm -rf "$REPO/build"                      # setuptools' work folder
WHEEL=$(ls "$WORK"/dist/latentcam-*.whl)

step "checking $(basename "$WHEEL")"
"$PY" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["latentcam/facekit/models/face_landmarker.task", "latentcam/facekit/models/hand_landmarker.task",
        "latentcam/assets/default_target/manifest.json", "latentcam/assets/default_target/decoder.onnx",
        "latentcam/assets/default_target/encoder.onnx", "latentcam/cli.py", "latentcam/facekit/samples.py"]
missing = [n for n in need if n not in names]
media = [n for n in names if n.lower().endswith((".mp4", ".mov", ".avi", ".jpg", ".jpeg"))
         or n.startswith(("tests/", ".cache/")) or "/tests/" in n]
assert not missing, f"the wheel lacks {missing}"
assert not media, f"the wheel holds test media or tests: {media}"
print(f"  {len(names)} files; models and default target present; no test media")
PYEOF

step "installing it into a fresh virtual environment"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "$WHEEL"
if "$WORK/venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch is importable in the fresh environment: the live path would not be tested torch-free"; exit 1
fi

mkdir "$WORK/empty" "$WORK/home"
cd "$WORK/empty"
# A user's folders of its own (data: the samples; config: the signing identity; cache).
export XDG_DATA_HOME="$WORK/home/data" XDG_CONFIG_HOME="$WORK/home/config" XDG_CACHE_HOME="$WORK/home/cache"
unset LATENTCAM_SAMPLES PYTHONPATH
LC="$WORK/venv/bin/latentcam"

step "latentcam demo before the samples: must stop and say how to get them"
if "$LC" demo 2> err.txt; then echo "demo ran without samples"; exit 1; fi
grep -q "latentcam samples" err.txt || { cat err.txt; echo "the hint does not name 'latentcam samples'"; exit 1; }
[ ! -e demo.mp4 ] && [ ! -e "$XDG_DATA_HOME/latentcam/samples" ] || { echo "something was written"; exit 1; }

step "latentcam samples"
"$LC" samples
step "latentcam demo"
"$LC" demo
"$WORK/venv/bin/python" - <<'PYEOF'
import cv2
cap = cv2.VideoCapture("demo.mp4")
n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)); w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
ok, frame = cap.read()
assert ok and n >= 60 and w == 2560 and frame.std() > 10, (ok, n, w)
print(f"  demo.mp4: {n} frames, {w} px wide (driver | output)")
PYEOF
step "latentcam prepare --photo (the sample photo, the sample clips as drivers)"
"$LC" prepare --photo "$XDG_DATA_HOME/latentcam/samples/single_face.jpg" --out photo_ds --frames 4 \
    --size 64 > prepare.txt
grep -q "drivers: the sample clips" prepare.txt && grep -q "4 frames kept" prepare.txt \
    || { cat prepare.txt; echo "prepare --photo did not use the samples or keep its frames"; exit 1; }
[ -f photo_ds/manifest.json ] || { echo "no dataset written"; exit 1; }
step "latentcam prepare --photo --drivers CLIP"
"$LC" prepare --photo "$XDG_DATA_HOME/latentcam/samples/single_face.jpg" --out photo_ds2 --frames 4 \
    --size 64 --drivers "$XDG_DATA_HOME/latentcam/samples/single_face.mp4" > prepare2.txt
grep -q "drivers: your clips" prepare2.txt && grep -q "4 frames kept" prepare2.txt \
    || { cat prepare2.txt; echo "prepare --photo --drivers did not use the clip or keep its frames"; exit 1; }
step "done: the wheel installs, fetches its samples, runs the demo and prepares a one-photo dataset"
