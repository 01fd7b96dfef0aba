"""The one fake camera: a ``cv2.VideoCapture`` stand-in under the real ``CameraSource`` (its
``opener`` seam), so the grabber thread, newest-frame slot, capture stamps, drop counting and
reconnection above it are the real code.

It replays frames (a real clip's, or numbered grey frames) at ``fps``, ``read`` blocking like a
webcam, and can misbehave like one: stop after ``limit`` frames, stall (``stalled.set()``), or be
unplugged for a time window (``outage``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np


class FakeCamera:
    def __init__(self, frames: list[np.ndarray] | None = None, fps: float = 30.0, loop: bool = True,
                 limit: int | None = None):
        self.frames = frames               # None: numbered grey 64×48 frames
        self.fps = fps
        self.loop = loop
        self.limit = limit                 # stop delivering after this many frames
        self.stalled = threading.Event()   # set: reads fail (the camera stopped delivering)
        self.outages: list[tuple[float, float]] = []
        self.opened = True
        self.delivered = 0
        self.t0 = time.monotonic()
        self._i = 0
        self._next: float | None = None

    @classmethod
    def from_clip(cls, path: Path, size: tuple[int, int] | None = None, **kw) -> "FakeCamera":
        """Every frame of ``path`` (resized to ``size``, W×H) as the camera's picture."""
        import cv2

        from latentcam.realtime.replay import load_clip

        frames, _ = load_clip(path)
        if size is not None:
            frames = [cv2.resize(f, size) for f in frames]
        return cls(frames, **kw)

    def outage(self, start_s: float, duration_s: float) -> None:
        """Unplugged from ``start_s`` to ``start_s + duration_s`` after creation."""
        self.outages.append((start_s, start_s + duration_s))

    def _in_outage(self) -> bool:
        t = time.monotonic() - self.t0
        return any(a <= t < b for a, b in self.outages)

    def _failing(self) -> bool:
        return (self.stalled.is_set() or self._in_outage()
                or (self.limit is not None and self.delivered >= self.limit))

    # --- the cv2.VideoCapture surface -------------------------------------------------------
    def isOpened(self) -> bool:
        return self.opened and not self._in_outage()

    def read(self):
        if not self.opened:
            return False, None
        now = time.monotonic()
        self._next = now if self._next is None else max(self._next, now - 1.0 / self.fps)
        if self._next > now:
            time.sleep(self._next - now)
        self._next += 1.0 / self.fps
        if self._failing():
            return False, None
        if self.frames is None:
            image = np.full((48, 64, 3), (self.delivered + 1) % 256, np.uint8)
        else:
            if self._i >= len(self.frames):
                if not self.loop:
                    return False, None
                self._i = 0
            image = self.frames[self._i].copy()
            self._i += 1
        self.delivered += 1
        return True, image

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        import cv2

        return float(self.fps) if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.opened = False


def opener_for(camera: FakeCamera):
    """An ``opener`` for ``CameraSource`` that hands out ``camera`` again on every (re)open, as a
    re-plugged USB camera comes back, and fails while it is unplugged."""

    class _Absent:
        def isOpened(self):
            return False

        def release(self):
            pass

    def opener(index, options):
        if camera._in_outage():
            return _Absent()
        camera.opened = True
        return camera

    return opener
