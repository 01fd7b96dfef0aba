"""Helpers for the realtime tests: a real (briefly trained) target bundle and a fake camera device.

The bundle is built once with the latent package's own code (``prepare`` on the sample clip,
then a few training steps of the ``cpu`` preset) and cached under ``.cache/``; the embedded
default target is used instead when it exists. The fake camera is the narrowest seam the
camera source offers (``CameraSource(opener=...)``): it replays a clip at a fixed rate and can
be told to stop delivering for a while, like an unplugged USB camera.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
BUNDLE_CACHE = REPO / ".cache" / "realtime_test_target"


def build_test_bundle(clip: Path, steps: int = 4) -> Path:
    """A real target bundle trained for a few steps on ``clip`` (cached)."""
    from latentcam.latent.bundle import BundleError, TargetBundle
    from latentcam.realtime.target import default_target_dir

    embedded = default_target_dir()
    if (embedded / "manifest.json").is_file():
        TargetBundle.load(embedded)          # a broken embedded target must fail loudly
        return embedded
    out = BUNDLE_CACHE / "target"
    try:
        TargetBundle.load(out)
        return out
    except BundleError:
        pass
    from latentcam.latent.dataset import PrepareOptions, VideoSource, prepare
    from latentcam.latent.train import TrainOptions, train

    data = BUNDLE_CACHE / "data"
    prepare(VideoSource(clip), data, PrepareOptions(size=256), coverage=False)
    train(TrainOptions(data_dir=data, out_dir=out, preset="cpu", steps=steps, batch_size=4,
                       progress=False, sample_every=10_000, checkpoint_every=10_000,
                       name="realtime-test"))
    TargetBundle.load(out)
    return out


class ClipCamera:
    """A ``cv2.VideoCapture`` stand-in replaying a clip at ``fps`` (``read`` blocks like a webcam).

    ``outage(start_s, duration_s)``: reads fail during that window (the camera "unplugged").
    ``opened_count`` counts how often the camera source (re)opened it.
    """

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0, loop: bool = True):
        self.frames = frames
        self.fps = fps
        self.loop = loop
        self._i = 0
        self._next = None
        self._open = True
        self.outages: list[tuple[float, float]] = []
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.delivered = 0

    @classmethod
    def from_clip(cls, path: Path, size: tuple[int, int] | None = None, **kw) -> "ClipCamera":
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            if size is not None:
                img = cv2.resize(img, size)
            frames.append(img)
        cap.release()
        return cls(frames, **kw)

    def outage(self, start_s: float, duration_s: float) -> None:
        self.outages.append((start_s, start_s + duration_s))

    def _in_outage(self) -> bool:
        t = time.monotonic() - self.t0
        return any(a <= t < b for a, b in self.outages)

    # --- the cv2.VideoCapture surface -------------------------------------------------------
    def isOpened(self) -> bool:
        return self._open and not self._in_outage()

    def read(self):
        if not self._open:
            return False, None
        now = time.monotonic()
        if self._next is None:
            self._next = now
        if self._next > now:
            time.sleep(self._next - now)
        self._next += 1.0 / self.fps
        if self._in_outage():
            return False, None
        if self._i >= len(self.frames):
            if not self.loop:
                return False, None
            self._i = 0
        img = self.frames[self._i]
        self._i += 1
        self.delivered += 1
        return True, img.copy()

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return float(self.fps)
        return 0.0

    def release(self) -> None:
        pass  # the same object is handed out again on reopen (the "same" USB camera)


def clip_camera_opener(camera: ClipCamera):
    """An ``opener`` for ``CameraSource`` that hands out ``camera`` (failing during outages)."""

    class _Closed:
        def isOpened(self):
            return False

        def release(self):
            pass

    def opener(index, options):
        return camera if camera.isOpened() else _Closed()

    return opener


class MemoryBackend:
    """A pyvirtualcam backend (registered by the tests) that keeps every frame that arrives,
    with its arrival time, and counts ``close()`` calls."""

    instances: list["MemoryBackend"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = 0
        MemoryBackend.instances.append(self)

    def send(self, frame):
        # pyvirtualcam may hand the pixels over flat: keep them as HxWxC images
        self.frames.append(frame.reshape(self.height, self.width, -1).copy())
        self.times.append(time.monotonic())

    def close(self):
        self.closed += 1

    def device(self):
        return "memory"

    def native_fourcc(self):
        return self.fourcc


@contextlib.contextmanager
def memory_backend_registered(name: str):
    """Register ``MemoryBackend`` with pyvirtualcam under ``name`` for the duration."""
    import pyvirtualcam

    MemoryBackend.instances.clear()
    pyvirtualcam.register_backend(name, MemoryBackend)
    try:
        yield MemoryBackend
    finally:
        pyvirtualcam.camera.BACKENDS.pop(name, None)
