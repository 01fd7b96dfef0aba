"""A sink that keeps a copy of every frame written to it."""

from __future__ import annotations

from latentcam.realtime.sinks import NullSink


class KeepingSink(NullSink):
    """``NullSink`` (its shape checks) that also keeps each written frame in ``frames``."""

    def __init__(self, options):
        super().__init__(options)
        self.frames = []

    def _write(self, bgr):
        super()._write(bgr)
        self.frames.append(bgr.copy())
