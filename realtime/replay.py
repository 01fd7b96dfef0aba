"""A webcam stand-in for benchmarks: a clip replayed behind the real camera source.

``ReplayDevice`` has the ``cv2.VideoCapture`` surface ``facekit.sources.CameraSource`` reads
(its ``opener`` seam), delivering the clip's frames, scaled to the requested camera size, at a
fixed rate. So a benchmark exercises the real grabber thread, its newest-frame-wins slot, its
capture stamps and its drop counting — exactly what a USB webcam would go through.
``FramesSource`` is the lossless counterpart (as fast as possible, every frame, not live).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from latentcam.facekit.sources import FileOptions, VideoFileSource

from .composite import cover_resize


def load_clip(path: Path, size: tuple[int, int] | None = None, max_frames: int | None = None,
              skip: int = 0) -> tuple[list[np.ndarray], float]:
    """The frames of ``path`` after the first ``skip`` (optionally cover-resized to ``size``)
    and the clip's fps. Read through ``facekit.sources.VideoFileSource`` (its errors say what
    is wrong with the file)."""
    frames: list[np.ndarray] = []
    with VideoFileSource(path, FileOptions(start=max(0, skip))) as source:
        while max_frames is None or len(frames) < max_frames:
            frame = source.read()
            if frame is None:
                break
            frames.append(cover_resize(frame.image, *size) if size else frame.image)
        return frames, source.info.fps


def clip_frame_count(path: Path) -> int:
    """Frames in ``path`` according to its header."""
    with VideoFileSource(path) as source:
        return source.info.frame_count or 0


class ReplayDevice:
    """``cv2.VideoCapture``-like: ``read()`` blocks until the next frame is due at ``fps``;
    after ``total`` frames it stops delivering (``exhausted``)."""

    def __init__(self, frames: list[np.ndarray], fps: float, total: int):
        self.frames = frames
        self.fps = fps
        self.total = total
        self.delivered = 0
        self._next: float | None = None

    @property
    def exhausted(self) -> bool:
        return self.delivered >= self.total

    def isOpened(self) -> bool:
        return True

    def read(self):
        if self.exhausted:
            time.sleep(0.01)
            return False, None
        now = time.monotonic()
        if self._next is None:
            self._next = now
        if self._next > now:
            time.sleep(self._next - now)
        self._next += 1.0 / self.fps
        img = self.frames[self.delivered % len(self.frames)]
        self.delivered += 1
        return True, img   # the grabber hands frames on without writing into them

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return float(self.fps)
        return 0.0

    def release(self) -> None:
        pass


def replay_camera(frames: list[np.ndarray], fps: float, total: int):
    """A ``CameraSource`` fed by a ``ReplayDevice``; returns (source, device)."""
    from latentcam.facekit.sources import CameraOptions, CameraSource

    device = ReplayDevice(frames, fps, total)
    # Index -1: no real device has it, so the loopback-device guard never matches a real camera.
    source = CameraSource(-1, CameraOptions(width=frames[0].shape[1], height=frames[0].shape[0],
                                           fps=fps, stall_timeout_s=5.0),
                          opener=lambda index, options: device, on_event=lambda msg: None)
    return source, device


class FramesSource:
    """Every frame of an in-memory clip, as fast as the consumer reads (lossless, not live)."""

    is_live = False
    camera_lost = False

    def __init__(self, frames: list[np.ndarray], total: int):
        from latentcam.facekit.sources import SourceInfo, SourceStats

        self.frames = frames
        self.total = total
        self.i = 0
        self.stats = SourceStats()
        h, w = frames[0].shape[:2]
        self.info = SourceInfo("memory", "frames in memory", w, h, 30.0, total)

    @property
    def finished(self) -> bool:
        return self.i >= self.total

    def read(self, timeout: float | None = None):
        from latentcam.facekit.sources import Frame

        if self.finished:
            return None
        img = self.frames[self.i % len(self.frames)]
        frame = Frame(img, self.i, time.monotonic())
        self.i += 1
        self.stats.frames_delivered += 1
        return frame

    def close(self) -> None:
        pass

    def __enter__(self) -> "FramesSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
