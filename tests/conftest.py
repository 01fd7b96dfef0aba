"""Shared fixtures: real test media fetched (and sha256-verified) by scripts/fetch_test_data.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO / ".cache" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Directory holding single_face.mp4, face_noface.mov, noface_face.mov, no_face.mp4,
    multi_face.jpg, single_face.jpg, WolfgangLanger_Pexels.mp4 and astronaut.png."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "fetch_test_data.py"),
                    "--dest", str(TESTDATA)], check=True, stdout=subprocess.DEVNULL)
    return TESTDATA


@pytest.fixture(scope="session")
def single_face_clip(testdata: Path) -> Path:
    return testdata / "single_face.mp4"
