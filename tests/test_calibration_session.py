"""``run_calibration`` on a live source. No camera exists here, so the narrowest seam is faked:
the ``cv2.VideoCapture``-like device under a real ``CameraSource`` replays real clip frames at
30 fps (or stops delivering), and everything above it — the grabber thread, newest-frame
queue, monotonic stamps, tracking, capture — is the real code."""

from __future__ import annotations

import time

import numpy as np
import pytest

from latentcam.calibration.neutral import NeutralCaptureOptions
from latentcam.calibration.ranges import steps_by_name
from latentcam.calibration.session import CalibrationError, CalibrationOptions, run_calibration
from latentcam.facekit.sources import CameraOptions, CameraSource
from support.camera import FakeCamera


def _decode(path) -> list[np.ndarray]:
    from latentcam.realtime.replay import load_clip

    return load_clip(path)[0]


def _camera(frames, limit=None) -> CameraSource:
    return CameraSource(0, CameraOptions(stall_timeout_s=5.0),
                        opener=lambda index, options: FakeCamera(frames, limit=limit),
                        on_event=lambda message: None)


def test_live_calibration_with_a_guided_step(testdata):
    frames = _decode(testdata / "single_face.mp4")
    options = CalibrationOptions(neutral=NeutralCaptureOptions(seconds=0.4), steps=steps_by_name(["smile"]),
                                 lead_in_seconds=0.4, step_seconds=0.6, timeout_s=10)
    said = []
    with _camera(frames) as camera:
        outcome = run_calibration(camera, options, say=said.append, source_name="camera 0")
    profile = outcome.profile
    assert profile.source == "camera 0" and profile.capture["seconds"] >= 0.4
    assert abs(profile.neutral_pose[0]) < 5
    assert "Smile as wide as you can." in said
    (step,) = outcome.steps
    assert step.frames > 5 and step.sufficient and profile.ranges["smile"] > 1.0


def test_live_calibration_without_a_face_times_out_saying_no_face(testdata):
    frames = _decode(testdata / "no_face.mp4")
    start = time.monotonic()
    with _camera(frames) as camera, pytest.raises(CalibrationError, match="no face") as err:
        run_calibration(camera, CalibrationOptions(timeout_s=1.5))
    assert "in 1.5 s" in str(err.value) and time.monotonic() - start < 8


def test_a_camera_that_stops_delivering_is_reported_not_waited_on(testdata):
    frames = _decode(testdata / "no_face.mp4")[:3]
    start = time.monotonic()
    with _camera(frames, limit=3) as camera, pytest.raises(CalibrationError, match="delivered no frame"):
        run_calibration(camera, CalibrationOptions(read_timeout_s=0.5))
    assert time.monotonic() - start < 5
