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


@pytest.fixture(scope="session")
def tracked_single_face(single_face_clip: Path) -> list:
    """Every frame of ``single_face.mp4`` tracked once by the real MediaPipe tracker (VIDEO mode,
    30 fps stamps): ``[(index, frame, FaceObservation | None), ...]``. Slice it; do not modify."""
    from support.tracking import tracked_frames

    return list(tracked_frames(single_face_clip))


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, single_face_clip: Path) -> Path:
    """A dataset folder (64² crops) of the first 16 faces of ``single_face.mp4``, built once by
    ``latentcam prepare``'s code. Tests that change a dataset copy it first."""
    from support.datasets import build_dataset

    return build_dataset(single_face_clip, tmp_path_factory.mktemp("small_dataset") / "ds",
                         size=64, max_frames=16)


@pytest.fixture(scope="session")
def live_target(single_face_clip: Path) -> Path:
    """A real target bundle for the live path (the embedded default target, checked to load)."""
    from support.bundles import build_test_bundle

    return build_test_bundle(single_face_clip)
