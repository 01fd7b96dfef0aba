"""``latentcam calibrate`` on real clips, and its errors (no camera exists on CI machines)."""

from __future__ import annotations

import time

import pytest
import typer
from typer.testing import CliRunner

from latentcam.calibration import CalibrationProfile


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    from latentcam.cli import build_app

    return build_app()      # errors reach the CLI's one handler, as for a user


def _run(app, *args):
    return CliRunner().invoke(app, ["calibrate", *map(str, args)])


def test_calibrate_from_a_clip_writes_a_loadable_profile_with_ranges(app, testdata, tmp_path):
    out = tmp_path / "me.json"
    result = _run(app, "--source", testdata / "single_face.mp4", "--out", out, "--seconds", "0.5",
                  "--steps", "smile", "--step-seconds", "1.5", "--sensitivity", "1.25")
    assert result.exit_code == 0, result.output
    assert "Neutral face captured" in result.output and "Smile as wide as you can" in result.output
    profile = CalibrationProfile.load(out)
    assert profile.source == "single_face.mp4" and profile.sensitivity == 1.25
    assert profile.ranges["smile"] > 1.0                # his smile widens the mouth by > 1 cm
    assert profile.blendshape_ranges["smile"] > 0.6
    assert abs(profile.neutral_pose[0]) < 5
    # refuses to overwrite without --force
    again = _run(app, "--source", testdata / "single_face.mp4", "--out", out, "--seconds", "0.5")
    assert again.exit_code == 2 and "--force" in again.output


def test_calibrate_on_a_clip_without_a_face_says_no_face(app, testdata, tmp_path):
    out = tmp_path / "me.json"
    result = _run(app, "--source", testdata / "no_face.mp4", "--out", out)
    assert result.exit_code == 2
    assert "calibration failed: no face" in result.output and "visible and well lit" in result.output
    assert not out.exists()


def test_calibrate_with_a_clip_too_smiley_for_a_long_window_explains_why(app, testdata, tmp_path):
    result = _run(app, "--source", testdata / "single_face.mp4", "--out", tmp_path / "p.json",
                  "--seconds", "2")
    assert result.exit_code == 2
    assert "relax your face" in result.output and "2 s of uninterrupted" in result.output


def test_calibrate_without_a_camera_fails_fast_with_advice(app, tmp_path):
    start = time.monotonic()
    result = _run(app, "--camera", "7", "--out", tmp_path / "p.json", "--timeout", "5")
    assert result.exit_code == 2
    assert "cannot open camera 7" in result.output and "--source CLIP" in result.output
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("args, message", [
    (["--camera", "0", "--source", "x.mp4"], "not both"),
    (["--source", "missing.mp4"], "video file not found"),
    (["--source", "x.mp4", "--steps", "smile,wink"], "unknown calibration step"),
])
def test_calibrate_argument_errors(app, tmp_path, args, message):
    result = _run(app, *args, "--out", tmp_path / "p.json")
    assert result.exit_code == 2 and message in result.output


def test_calibrate_reports_a_missing_output_folder(app, testdata, tmp_path):
    result = _run(app, "--source", testdata / "single_face.mp4", "--out", tmp_path / "no" / "p.json")
    assert result.exit_code == 2 and "does not exist" in result.output
