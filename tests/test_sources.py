"""Frame sources on real files, and the camera grabber through its device seam."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from latentcam.facekit.sources import (CameraOptions, CameraSource, FileOptions, SourceError,
                                       SourceOptions, VideoFileSource, open_source)
from support.camera import FakeCamera


def test_file_source_is_lossless_and_in_order(single_face_clip):
    with open_source(single_face_clip) as src:
        assert src.info.kind == "file" and (src.info.width, src.info.height) == (640, 360)
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
        assert src.finished and not src.truncated
    assert [f.index for f in frames] == list(range(72))
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)


def test_paced_file_source_runs_at_the_file_rate(single_face_clip):
    with VideoFileSource(single_face_clip, FileOptions(paced=True)) as src:
        start = time.monotonic()
        n = 0
        while src.read() is not None and n < 15:
            n += 1
        elapsed = time.monotonic() - start
    assert elapsed >= 14 / 30 - 0.01  # 15 frames at 30 fps span 14 frame intervals


def test_missing_and_corrupt_and_truncated_files_give_clear_errors(tmp_path, single_face_clip):
    with pytest.raises(SourceError, match="not found"):
        open_source(tmp_path / "nope.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 1000)
    with pytest.raises(SourceError, match="cannot decode"):
        open_source(garbage)
    data = single_face_clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="corrupt, truncated"):
        open_source(truncated)


def test_camera_that_cannot_be_opened_fails_fast():
    start = time.monotonic()
    with pytest.raises(SourceError, match="cannot open camera 7"):
        open_source(7)
    assert time.monotonic() - start < 5


def FakeDevice(fps=100.0):
    """The one fake camera (``support.camera``) with numbered grey frames."""
    return FakeCamera(fps=fps)


def test_camera_grabber_hands_out_the_newest_frame_and_counts_drops():
    device = FakeDevice(fps=200)
    with CameraSource(0, CameraOptions(), opener=lambda i, o: device) as cam:
        time.sleep(0.2)  # consumer is slow: the grabber keeps overwriting
        frame = cam.read(timeout=1.0)
        assert frame is not None
        assert time.monotonic() - frame.capture_time < 0.05   # fresh, not a stale queued frame
        assert cam.stats.frames_dropped > 10
        later = cam.read(timeout=1.0)
        assert later.index > frame.index and later.capture_time > frame.capture_time
    assert not device.opened  # released on close


def test_camera_that_stops_is_reported_within_a_second_and_reopened():
    devices = [FakeDevice(fps=100)]
    events = []

    def opener(index, options):
        if len(devices) == 1 and devices[0].stalled.is_set():
            devices.append(FakeDevice(fps=100))
        return devices[-1]

    cam = CameraSource(0, CameraOptions(stall_timeout_s=0.3, reopen_interval_s=0.1),
                       opener=opener, on_event=events.append)
    try:
        assert cam.read(timeout=1.0) is not None
        devices[0].stalled.set()
        t0 = time.monotonic()
        while not cam.camera_lost and time.monotonic() - t0 < 2:
            time.sleep(0.01)
        assert cam.camera_lost and time.monotonic() - t0 < 1.0
        assert any("camera lost" in e for e in events)
        frame = cam.read(timeout=2.0)
        assert frame is not None and not cam.camera_lost
        assert cam.stats.stalls == 1 and cam.stats.reopens == 1
        assert any("reopened" in e for e in events)
    finally:
        cam.close()
        cam.close()


def test_camera_that_opens_but_never_delivers_is_an_error():
    device = FakeDevice()
    device.stalled.set()
    with pytest.raises(SourceError, match="delivered no frame"):
        CameraSource(3, CameraOptions(), opener=lambda i, o: device)


def test_loopback_device_is_refused_as_input(monkeypatch):
    import latentcam.facekit.sources as sources

    monkeypatch.setattr(sources, "is_loopback_device", lambda index: index == 5)
    with pytest.raises(SourceError, match="v4l2loopback"):
        CameraSource(5, CameraOptions(), opener=lambda i, o: FakeDevice())
