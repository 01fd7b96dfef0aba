"""Where output frames go: a virtual camera, an mp4 file, a preview window, or nowhere.

Every sink takes BGR ``uint8`` HxWx3 frames through ``write`` (the project's frame contract),
is a context manager, and has a ``close()`` that is safe to call twice. Sinks are built by name
through a small registry (``SINKS`` / ``open_sink``) so the pipeline, ``live``, ``demo`` and
``bench`` never construct them by hand.
"""

from __future__ import annotations

import os
import platform
import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from latentcam.facekit.errors import LatentcamError
from latentcam.facekit.video_writer import VideoFileWriter, VideoWriteError

from .overlay import Controls, apply_key


class SinkError(LatentcamError, RuntimeError):
    """A sink cannot be opened or written; the message says what to do."""


LOOPBACK_FIX_LINUX = ("sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
                      "card_label=latentcam")


def virtual_camera_fix() -> str:
    """The platform's instructions for getting a virtual camera device."""
    system = platform.system()
    if system == "Linux":
        return ("install v4l2loopback (Debian/Ubuntu: `sudo apt install v4l2loopback-dkms`) and load "
                f"it: `{LOOPBACK_FIX_LINUX}`")
    return ("install OBS Studio (28 or newer), start it once and click 'Start Virtual Camera', then "
            "stop it again (this registers 'OBS Virtual Camera'), and close OBS before running "
            "latentcam")


@dataclass(frozen=True)
class SinkOptions:
    """Options shared by all sinks; each sink reads the fields it needs."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    path: Path | None = None          # file sink: where to write the mp4
    fourcc: str = "mp4v"              # file sink codec (OpenCV's FFmpeg writer)
    device: str | None = None         # virtual camera: e.g. /dev/video10 or "OBS Virtual Camera"
    backend: str | None = None        # virtual camera: a pyvirtualcam backend name (None = any)
    window_title: str = "latentcam"   # preview window


class Sink:
    """Base class: subclasses implement ``_write`` and ``_close``."""

    name = "sink"

    def __init__(self) -> None:
        self._closed = False
        self.frames_written = 0

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, bgr: np.ndarray) -> None:
        """Send one BGR uint8 HxWx3 frame."""
        if self._closed:
            raise SinkError(f"{self.name} sink is closed")
        self._write(bgr)
        self.frames_written += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def _write(self, bgr: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:
        pass


def _check_frame(bgr: np.ndarray, width: int, height: int, sink: str) -> None:
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        got = (getattr(bgr, "shape", None), getattr(bgr, "dtype", None))
        raise ValueError(f"{sink} sink expects HxWx3 uint8 BGR frames, got {got}")
    if bgr.shape[0] != height or bgr.shape[1] != width:
        raise ValueError(f"{sink} sink was opened for {width}x{height} but got a "
                         f"{bgr.shape[1]}x{bgr.shape[0]} frame")


class NullSink(Sink):
    """Discards frames (benchmarks, headless tests)."""

    name = "null"

    def __init__(self, options: SinkOptions = SinkOptions()):
        super().__init__()
        self.options = options

    def _write(self, bgr: np.ndarray) -> None:
        _check_frame(bgr, self.options.width, self.options.height, self.name)


class VideoFileSink(Sink):
    """An mp4 file written with OpenCV's FFmpeg writer, on a background thread.

    Encoding a 720p frame costs 4–8 ms (a side-by-side demo frame twice that); a writer thread
    keeps it off the frame's critical path. The queue is bounded (``queue_frames``) and ``write``
    blocks when it is full, so no frame is ever dropped from a recording. The file is finalised
    (moov atom written) on ``close()``; the pipeline closes sinks in a ``finally`` and turns
    SIGINT into a normal stop, so a recording survives Ctrl-C. Frames must not be modified after
    ``write`` (the pipeline builds a new array per frame).
    """

    name = "file"

    def __init__(self, options: SinkOptions, queue_frames: int = 8):
        super().__init__()
        if options.path is None:
            raise SinkError("the file sink needs a path (e.g. --record out.mp4)")
        self.options = options
        self.path = Path(options.path)
        try:
            self._writer = VideoFileWriter(self.path, options.fps, (options.width, options.height),
                                           fourcc=options.fourcc)
        except VideoWriteError as exc:
            raise SinkError(str(exc), hint="pass --record PATH.mp4 in an existing, writable folder") from None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="latentcam-record", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    self._writer.write(frame)
                except BaseException as exc:  # reported on the next write / close
                    self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise SinkError(f"recording to {self.path} failed: {self._error}")

    def _write(self, bgr: np.ndarray) -> None:
        _check_frame(bgr, self.options.width, self.options.height, self.name)
        self._raise_pending()
        self._queue.put(bgr)

    def _close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        self._raise_pending()


class VirtualCameraSink(Sink):
    """Publishes frames through pyvirtualcam (v4l2loopback on Linux, OBS on Windows/macOS).

    Frames are handed over in BGR order (``PixelFormat.BGR``), so no colour conversion happens
    on our side; pyvirtualcam's backend converts to the device's native format.
    """

    name = "virtual-cam"

    def __init__(self, options: SinkOptions = SinkOptions()):
        super().__init__()
        import pyvirtualcam

        self.options = options
        try:
            self._camera = pyvirtualcam.Camera(options.width, options.height, options.fps,
                                               fmt=pyvirtualcam.PixelFormat.BGR,
                                               device=options.device, backend=options.backend)
        except KeyError as exc:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none on this platform"
            raise SinkError(f"unknown virtual camera backend {exc}; known: {known}") from None
        except RuntimeError as exc:
            raise SinkError(
                f"no virtual camera device is available ({str(exc).strip()}).\n"
                f"To fix: {virtual_camera_fix()}.") from exc
        self.device = self._camera.device
        self.backend = self._camera.backend

    def _write(self, bgr: np.ndarray) -> None:
        _check_frame(bgr, self.options.width, self.options.height, self.name)
        self._camera.send(bgr)

    def _close(self) -> None:
        self._camera.close()


class DeviceCopyBackend:
    """A pyvirtualcam backend that does what the real ones do with a frame, minus the device:
    converts the BGR frame to the device's YUV format (I420, as the v4l2loopback and OBS backends
    convert with libyuv) and copies it into a device-sized buffer (the ``write()`` into
    v4l2loopback, the shared-memory copy into OBS). ``latentcam bench`` sends through it so the
    end-to-end figure includes what a virtual-camera write costs on a machine without the device.
    """

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw):
        self.width, self.height = width, height
        self._device = np.empty((height * 3 // 2, width), np.uint8)   # one I420 frame
        self.frames_sent = 0

    def send(self, frame: np.ndarray) -> None:
        bgr = frame.reshape(self.height, self.width, 3)
        np.copyto(self._device, cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420))
        self.frames_sent += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "device-copy stand-in (no virtual camera device)"

    def native_fourcc(self) -> int | None:
        import pyvirtualcam

        return int(pyvirtualcam.PixelFormat.I420)


DEVICE_COPY_BACKEND = "latentcam-device-copy"


class VirtualCameraStandIn(VirtualCameraSink):
    """The real pyvirtualcam front end (``Camera``: shape checks, format handling, ``send``) into
    ``DeviceCopyBackend``: a virtual-camera write's cost without a virtual-camera device."""

    name = "virtual-cam-standin"

    def __init__(self, options: SinkOptions = SinkOptions()):
        import pyvirtualcam
        from dataclasses import replace

        pyvirtualcam.register_backend(DEVICE_COPY_BACKEND, DeviceCopyBackend)
        super().__init__(replace(options, backend=DEVICE_COPY_BACKEND, device=None))


def display_available() -> bool:
    """Whether a window can be opened (X11/Wayland on Linux; always assumed elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewSink(Sink):
    """An OpenCV window that handles its own keys: a key pressed during a write changes
    ``controls`` (``overlay.KEYS``: recalibrate, reveal, label, …) and closing the window sets
    ``controls.quit``. ``last_key`` holds the last key code (or -1)."""

    name = "preview"

    def __init__(self, options: SinkOptions = SinkOptions(), controls: Controls | None = None):
        super().__init__()
        self.controls = controls if controls is not None else Controls()
        if not display_available():
            raise SinkError("cannot open a preview window: no display (DISPLAY/WAYLAND_DISPLAY is "
                            "not set). Run without --preview, or use --record out.mp4 to see the output.")
        self.options = options
        self.title = options.window_title
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            cv2.resizeWindow(self.title, options.width, options.height)
        except cv2.error as exc:
            raise SinkError(f"cannot open a preview window ({exc}). OpenCV may be a headless build; "
                            "run without --preview or install opencv-python (not -headless).") from exc
        self.last_key = -1
        self.window_closed = False

    def _write(self, bgr: np.ndarray) -> None:
        cv2.imshow(self.title, bgr)
        self.last_key = cv2.waitKey(1)
        try:
            self.window_closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            self.window_closed = True
        self.handle_key(self.last_key)

    def handle_key(self, key: int) -> str | None:
        """Apply a key code (or the window closing) to ``controls``; returns the action."""
        if self.window_closed:
            self.controls.quit = True
            return "quit"
        if key is None or key < 0:
            return None
        return apply_key(self.controls, key & 0xFF)

    def _close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


SINKS: dict[str, Callable[[SinkOptions], Sink]] = {
    "null": NullSink,
    "file": VideoFileSink,
    "virtual-cam": VirtualCameraSink,
    "virtual-cam-standin": VirtualCameraStandIn,
    "preview": PreviewSink,
}


def open_sink(name: str, options: SinkOptions = SinkOptions()) -> Sink:
    """Build the sink registered as ``name``."""
    try:
        factory = SINKS[name]
    except KeyError:
        raise SinkError(f"unknown sink {name!r}; known: {', '.join(sorted(SINKS))}") from None
    return factory(options)


class SinkGroup:
    """Several sinks written in order; closing closes all of them, even if one fails."""

    def __init__(self, sinks: list[Sink]):
        self.sinks = list(sinks)

    def __enter__(self) -> "SinkGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, bgr: np.ndarray) -> None:
        for sink in self.sinks:
            sink.write(bgr)

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # keep closing the others; report afterwards
                errors.append(f"{sink.name}: {exc}")
        if errors:
            raise SinkError("closing sinks failed: " + "; ".join(errors))
