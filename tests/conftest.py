"""Shared fixtures: real test media fetched (and sha256-verified) by scripts/fetch_test_data.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO / ".cache" / "testdata"


@pytest.fixture(scope="session", autouse=True)
def _signing_identity_in_a_temporary_config(tmp_path_factory):
    """Training and recording sign with the local identity: the tests' goes to a temporary user
    config folder (XDG_CONFIG_HOME, also for subprocesses), never to the real user's."""
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if previous is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = previous


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
