"""The foundation commands, run as a user would run them (subprocess, real clip)."""

from __future__ import annotations

import subprocess
import sys

import cv2


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentcam", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_track_writes_an_annotated_video_and_prints_percentiles(single_face_clip, tmp_path):
    out = tmp_path / "annotated.mp4"
    proc = run_cli("track", str(single_face_clip), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "face in 100% (72/72)" in proc.stdout
    assert "p50" in proc.stdout and "p95" in proc.stdout
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 72 and frames[0].shape == (360, 640, 3)
    # the annotation is drawn: the output differs from the input where the landmarks are
    src = cv2.VideoCapture(str(single_face_clip))
    _, original = src.read()
    src.release()
    assert cv2.absdiff(frames[0], original).mean() > 2.0


def test_track_reports_no_face_fraction(testdata, tmp_path):
    proc = run_cli("track", str(testdata / "no_face.mp4"), "--out", str(tmp_path / "a.mp4"))
    assert proc.returncode == 0, proc.stderr
    assert "face in 0%" in proc.stdout


def test_track_missing_file_and_missing_camera_are_clear_errors(tmp_path):
    proc = run_cli("track", str(tmp_path / "missing.mp4"))
    assert proc.returncode == 2 and "error: video file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("track", "9", timeout=30)
    assert proc.returncode == 2 and "cannot open camera 9" in proc.stderr


def test_doctor_checks_the_face_model_and_names_fixes():
    proc = subprocess.run([sys.executable, "-m", "latentcam", "doctor"], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "face model" in proc.stdout and "sha256 ok" in proc.stdout
    # no camera and no loopback device on CI machines: the fix is named
    assert "v4l2loopback" in proc.stdout


def test_doctor_lists_every_decoder_engine():
    from latentcam.doctor import check_engines
    from latentcam.engines import backend_names

    checks = {c.name: c for c in check_engines()}
    assert set(checks) == {f"engine {name}" for name in backend_names()}
    assert checks["engine onnxruntime"].ok is True
    # absent engines say why (GPU backends on a machine without one)
    assert all(c.detail for c in checks.values())


def test_devices_says_how_to_create_a_virtual_camera():
    proc = run_cli("devices", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "v4l2loopback" in proc.stdout
