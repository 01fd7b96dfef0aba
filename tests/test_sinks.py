"""Sinks: the real pyvirtualcam front end into a test backend, mp4 files, null, errors."""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest
import pyvirtualcam

from latentcam.realtime.sinks import (
    LOOPBACK_FIX_LINUX, NullSink, SinkError, SinkGroup, SinkOptions, VideoFileSink,
    VirtualCameraSink, open_sink, PreviewSink,
)

from support.virtualcam import memory_backend_registered


@pytest.fixture()
def memory_backend():
    with memory_backend_registered("latentcam-test") as backend:
        yield backend


def test_virtual_camera_receives_bgr_frames_in_order(memory_backend):
    opts = SinkOptions(width=64, height=48, fps=30, backend="latentcam-test")
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 0] = 200  # blue in BGR
    frame[..., 2] = 10   # red
    with VirtualCameraSink(opts) as sink:
        for i in range(5):
            frame[0, 0, 1] = i
            sink.write(frame)
        assert sink.device == "memory"
    backend = memory_backend.instances[-1]
    assert backend.closed == 1
    assert (backend.width, backend.height) == (64, 48)
    assert pyvirtualcam.util.decode_fourcc(backend.fourcc) == pyvirtualcam.PixelFormat.BGR.value
    assert len(backend.frames) == 5
    got = [f.reshape(48, 64, 3) for f in backend.frames]
    assert [int(g[0, 0, 1]) for g in got] == [0, 1, 2, 3, 4]
    # BGR order preserved: channel 0 is the blue we wrote.
    assert int(got[-1][10, 10, 0]) == 200 and int(got[-1][10, 10, 2]) == 10


def test_virtual_camera_close_twice_and_write_after_close(memory_backend):
    sink = VirtualCameraSink(SinkOptions(width=32, height=32, backend="latentcam-test"))
    sink.close()
    sink.close()
    assert memory_backend.instances[-1].closed == 1
    with pytest.raises(SinkError, match="closed"):
        sink.write(np.zeros((32, 32, 3), np.uint8))


def test_virtual_camera_rejects_wrong_size(memory_backend):
    with VirtualCameraSink(SinkOptions(width=32, height=32, backend="latentcam-test")) as sink:
        with pytest.raises(ValueError, match="32x32"):
            sink.write(np.zeros((16, 32, 3), np.uint8))


@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback message is Linux-only")
def test_missing_loopback_device_gives_the_modprobe_fix():
    import glob
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has video devices; cannot provoke the 'no device' error")
    with pytest.raises(SinkError) as info:
        VirtualCameraSink(SinkOptions(width=64, height=48, backend="v4l2loopback"))
    assert LOOPBACK_FIX_LINUX in str(info.value)
    assert "no virtual camera device" in str(info.value)


def test_file_sink_writes_playable_mp4(tmp_path):
    path = tmp_path / "out.mp4"
    opts = SinkOptions(width=96, height=64, fps=25, path=path)
    with open_sink("file", opts) as sink:
        for i in range(12):
            img = np.full((64, 96, 3), (0, 0, 255), np.uint8)  # red in BGR
            img[:, : 8 * i] = (255, 0, 0)
            sink.write(img)
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    assert len(frames) == 12
    assert frames[0].shape == (64, 96, 3)
    b, g, r = frames[0][32, 80].astype(int)
    assert r > 200 and b < 60   # red stayed red: no RGB/BGR swap


def test_file_sink_errors(tmp_path):
    with pytest.raises(SinkError, match="does not exist"):
        VideoFileSink(SinkOptions(path=tmp_path / "missing" / "x.mp4"))
    with pytest.raises(SinkError, match=".mp4"):
        VideoFileSink(SinkOptions(path=tmp_path / "x.txt"))


def test_null_sink_and_registry():
    with open_sink("null", SinkOptions(width=8, height=4)) as sink:
        sink.write(np.zeros((4, 8, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            sink.write(np.zeros((4, 8, 3), np.float32))
    assert sink.frames_written == 1
    with pytest.raises(SinkError, match="known: file, null, preview, virtual-cam"):
        open_sink("hologram")


def test_preview_without_display_is_a_clear_error(monkeypatch):
    if platform.system() != "Linux":
        pytest.skip("display detection is Linux-specific")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SinkError, match="no display"):
        PreviewSink()


def test_sink_group_closes_all_even_if_one_fails(memory_backend, tmp_path):
    class Exploding(NullSink):
        def _close(self):
            raise OSError("disk full")

    a = Exploding(SinkOptions(width=8, height=8))
    b = VirtualCameraSink(SinkOptions(width=8, height=8, backend="latentcam-test"))
    group = SinkGroup([a, b])
    group.write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SinkError, match="disk full"):
        group.close()
    assert b.closed and memory_backend.instances[-1].closed == 1


def test_preview_handles_its_own_keys(monkeypatch):
    """The preview window's keys change the live controls inside the preview sink's write
    (the pipeline only reads the controls); closing the window quits."""
    from latentcam.realtime import sinks
    from latentcam.realtime.overlay import Controls

    keys = iter([ord("l"), ord("M"), -1, ord("w")])
    visible = {"value": 1.0}
    monkeypatch.setattr(sinks, "display_available", lambda: True)
    monkeypatch.setattr(sinks.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(sinks.cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(sinks.cv2, "imshow", lambda *a: None)
    monkeypatch.setattr(sinks.cv2, "waitKey", lambda *a: next(keys, -1))
    monkeypatch.setattr(sinks.cv2, "getWindowProperty", lambda *a: visible["value"])
    monkeypatch.setattr(sinks.cv2, "destroyWindow", lambda *a: None)
    controls = Controls()
    frame = np.zeros((64, 96, 3), np.uint8)
    with PreviewSink(SinkOptions(96, 64, 30), controls) as preview:
        preview.write(frame)
        assert controls.label is False and controls.changed
        preview.write(frame)
        assert controls.mode == "paste"
        preview.write(frame)                       # no key: nothing changes
        assert controls.mode == "paste" and not controls.quit
        preview.write(frame)
        assert controls.save                       # the pipeline saves and clears it
        visible["value"] = 0.0
        preview.write(frame)
        assert controls.quit
