"""A pyvirtualcam backend (registered by the tests) that keeps every frame that arrives, with its
arrival time, and counts ``close()`` calls: the real pyvirtualcam front end, no device."""

from __future__ import annotations

import contextlib
import time

import numpy as np


class MemoryBackend:
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
