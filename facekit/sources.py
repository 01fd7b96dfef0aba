"""Frame sources: a camera or a video file behind one interface.

Every frame carries its sequence number and a ``time.monotonic()`` capture stamp taken when the
pixels arrived, so latency can be measured end to end.

* ``CameraSource`` runs a grabber thread that keeps only the newest frame (stale frames are
  dropped and counted), so a slow consumer never builds up latency. A camera that stops
  delivering is reported within ``stall_timeout_s`` and reopened in the background.
* ``VideoFileSource`` reads every frame (lossless), as fast as possible or paced at the file's
  frame rate as a stand-in for a webcam.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from .devices import is_loopback_device
from .errors import InputError

log = logging.getLogger(__name__)


class SourceError(InputError, RuntimeError):
    """A frame source cannot be opened or read; the message says what to do."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray      # HxWx3 uint8 BGR
    index: int             # sequence number from 0 (for files: the frame number in the file)
    capture_time: float    # time.monotonic() seconds when the frame arrived


@dataclass(frozen=True)
class SourceInfo:
    kind: str              # "camera" or "file"
    name: str
    width: int
    height: int
    fps: float
    frame_count: int | None = None   # files only
    fourcc: str | None = None        # cameras: the pixel format actually granted


@dataclass
class SourceStats:
    frames_delivered: int = 0
    frames_dropped: int = 0   # overwritten before anyone read them (cameras only)
    stalls: int = 0           # times the camera stopped delivering
    reopens: int = 0          # successful reopen after a stall


class FrameSource(Protocol):
    """Where the live loop and calibration get frames: a camera, a video file, a replay.

    ``read(timeout)`` returns the next ``Frame`` or None (nothing yet, or the end: ``finished``).
    ``is_live``: frames arrive on their own clock (newest wins) rather than when asked for.
    ``camera_lost``: a live source stopped delivering and is reconnecting.
    """

    info: SourceInfo
    stats: SourceStats

    @property
    def is_live(self) -> bool: ...
    @property
    def finished(self) -> bool: ...
    @property
    def camera_lost(self) -> bool: ...
    def read(self, timeout: float | None = None) -> Frame | None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "FrameSource": ...
    def __exit__(self, *exc) -> None: ...


# --- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileOptions:
    paced: bool = False        # True: deliver at the file's fps, like a webcam
    loop: bool = False         # start again at the end (paced demos)
    start: int = 0             # first frame delivered (earlier ones are skipped, not decoded)


class VideoFileSource:
    """Every frame of a video file, in order. ``read()`` returns None at the end."""

    is_live = False
    camera_lost = False

    def __init__(self, path: Path | str, options: FileOptions = FileOptions()):
        self.path = Path(path)
        self.options = options
        self.stats = SourceStats()
        if not self.path.exists():
            raise SourceError(f"video file not found: {self.path}")
        if not self.path.is_file():
            raise SourceError(f"not a file: {self.path}")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot decode video {self.path}: the file is corrupt, truncated "
                              "or in an unsupported format. Re-export it as H.264 mp4.")
        skipped = 0
        while skipped < options.start and self._cap.grab():
            skipped += 1
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"video {self.path} has no readable frames (corrupt or truncated).")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 30.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.info = SourceInfo("file", self.path.name, first.shape[1], first.shape[0], fps,
                               count if count > 0 else None)
        self._pending: np.ndarray | None = first
        self._first = skipped
        self._index = skipped
        self._start: float | None = None
        self._finished = False
        self._closed = False

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def truncated(self) -> bool:
        """True when the file ended well before the frame count in its header."""
        expected = self.info.frame_count
        return self._finished and expected is not None and self._index < 0.9 * expected

    def __enter__(self) -> "VideoFileSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()

    def _next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._cap.read()
        if ok and image is not None:
            return image
        if self.options.loop and self._index > self._first:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
            if ok and image is not None:
                return image
        return None

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._closed:
            raise SourceError("source is closed")
        if self._finished:
            return None
        image = self._next_image()
        if image is None:
            self._finished = True
            if self.truncated:
                log.warning("%s ended after %d of %d frames (truncated file?)",
                            self.path, self._index, self.info.frame_count)
            return None
        if self.options.paced:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + (self._index - self._first) / self.info.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(image, self._index, time.monotonic())
        self._index += 1
        self.stats.frames_delivered += 1
        return frame


# --- cameras --------------------------------------------------------------------------------


class CaptureDevice(Protocol):
    """The part of ``cv2.VideoCapture`` a camera source uses (a test seam)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def set(self, prop: int, value: float) -> bool: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


@dataclass(frozen=True)
class CameraOptions:
    width: int = 640
    height: int = 480
    fps: float = 30.0
    fourcc: str | None = "MJPG"     # MJPG lets USB webcams reach 30 fps at 720p and above
    stall_timeout_s: float = 1.0    # no frame for this long → "camera lost", then reopen
    reopen_interval_s: float = 0.5
    buffer_size: int = 1            # ask the driver to queue as little as possible


def _decode_fourcc(value: float) -> str:
    code = int(value)
    chars = [chr((code >> (8 * i)) & 0xFF) for i in range(4)]
    text = "".join(chars)
    return text if text.isprintable() and text.strip() else "unknown"


def open_camera_device(index: int, options: CameraOptions) -> CaptureDevice:
    """Open camera ``index`` with OpenCV and request the mode in ``options``."""
    cap = cv2.VideoCapture(index)
    if cap.isOpened():
        if options.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*options.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        cap.set(cv2.CAP_PROP_FPS, options.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, options.buffer_size)
    return cap


class CameraSource:
    """A live camera read by a grabber thread; ``read()`` returns the newest frame.

    ``read(timeout)`` returns None when no new frame came within ``timeout`` (check
    ``camera_lost`` to tell a stall from a slow camera). ``on_event`` receives short
    messages ("camera lost", "camera reopened") from the grabber thread.
    """

    is_live = True
    finished = False

    def __init__(self, index: int, options: CameraOptions = CameraOptions(),
                 opener: Callable[[int, CameraOptions], CaptureDevice] = open_camera_device,
                 on_event: Callable[[str], None] | None = None):
        self.index = index
        self.options = options
        self.stats = SourceStats()
        self._opener = opener
        self._on_event = on_event or (lambda msg: log.warning("camera %d: %s", index, msg))
        if is_loopback_device(index):
            raise SourceError(
                f"camera {index} is a v4l2loopback (virtual camera) device: reading it would loop "
                "latentcam's own output back. Pick the physical camera (see `latentcam devices`).")
        device = opener(index, options)
        if not device.isOpened():
            device.release()
            raise SourceError(
                f"cannot open camera {index}: no such device, or another program is using it. "
                "Run `latentcam devices` to list cameras, close other apps using the camera, or "
                "use --source CLIP to drive from a video file.")
        ok, first = device.read()
        if not ok or first is None:
            device.release()
            raise SourceError(f"camera {index} opened but delivered no frame. Check that it is "
                              "not in use by another app and that its cable/driver works.")
        self.info = SourceInfo(
            "camera", f"camera {index}", first.shape[1], first.shape[0],
            float(device.get(cv2.CAP_PROP_FPS)) or options.fps, None,
            _decode_fourcc(device.get(cv2.CAP_PROP_FOURCC)))
        self._device = device
        self._cond = threading.Condition()
        self._latest: Frame | None = Frame(first, 0, time.monotonic())
        self._consumed = False
        self._next_index = 1
        self._last_frame_time = time.monotonic()
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab_loop, name=f"camera-{index}", daemon=True)
        self._thread.start()

    @property
    def camera_lost(self) -> bool:
        return self._lost

    @property
    def finished(self) -> bool:
        return False          # a camera does not end; it is closed

    def __enter__(self) -> "CameraSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)
        device, self._device = self._device, None
        if device is not None:
            device.release()

    def read(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._consumed:
                if self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.1)
            self._consumed = True
            self.stats.frames_delivered += 1
            return self._latest

    def _publish(self, image: np.ndarray) -> None:
        now = time.monotonic()
        with self._cond:
            if self._latest is not None and not self._consumed:
                self.stats.frames_dropped += 1
            self._latest = Frame(image, self._next_index, now)
            self._next_index += 1
            self._consumed = False
            self._cond.notify_all()
        self._last_frame_time = now
        if self._lost:
            self._lost = False
            self.stats.reopens += 1
            self._on_event("camera reopened")

    def _mark_lost(self) -> None:
        if not self._lost:
            self._lost = True
            self.stats.stalls += 1
            self._on_event(f"camera lost (no frame for {self.options.stall_timeout_s:.1f} s); reopening")

    def _grab_loop(self) -> None:
        """Read frames; on failure or stall, release and reopen until closed."""
        device = self._device
        while not self._stop.is_set():
            ok, image = (False, None)
            if device is not None:
                try:
                    ok, image = device.read()
                except cv2.error:
                    ok, image = False, None
            if ok and image is not None:
                self._publish(image)
                continue
            if time.monotonic() - self._last_frame_time < self.options.stall_timeout_s:
                time.sleep(0.005)
                continue
            self._mark_lost()
            if device is not None:
                device.release()
            device = self._device = None
            if self._stop.wait(self.options.reopen_interval_s):
                break
            candidate = self._opener(self.index, self.options)
            if candidate.isOpened():
                device = self._device = candidate
                self._last_frame_time = time.monotonic()  # give it a full timeout to deliver
            else:
                candidate.release()


# --- one entry point ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOptions:
    camera: CameraOptions = field(default_factory=CameraOptions)
    file: FileOptions = field(default_factory=FileOptions)


def open_source(spec: int | str | Path, options: SourceOptions = SourceOptions()) -> FrameSource:
    """A camera for an int (or a string of digits), otherwise a video file path."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return CameraSource(int(spec), options.camera)
    return VideoFileSource(Path(spec), options.file)
