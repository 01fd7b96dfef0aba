"""Writing BGR frames to a video file with OpenCV, with clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from .errors import InputError

_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


class VideoWriteError(InputError, RuntimeError):
    """The output video cannot be written."""


class VideoFileWriter:
    """Context manager writing HxWx3 uint8 BGR frames of one fixed size."""

    def __init__(self, path: Path | str, fps: float, size: tuple[int, int], fourcc: str | None = None):
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        suffix = self.path.suffix.lower()
        if suffix not in _FOURCC_BY_SUFFIX:
            raise VideoWriteError(f"cannot write video to {self.path}: use a .mp4 (or "
                                  f"{', '.join(s for s in sorted(_FOURCC_BY_SUFFIX) if s != '.mp4')}) file name")
        if not self.path.parent.exists():
            raise VideoWriteError(f"cannot write video to {self.path}: folder {self.path.parent} "
                                  "does not exist")
        codec = fourcc or _FOURCC_BY_SUFFIX[suffix]
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), float(fps), self.size)
        if not self._writer.isOpened():
            self._writer.release()
            raise VideoWriteError(f"OpenCV could not open {self.path} for writing with codec {codec!r}; "
                                  "check the folder is writable and the name ends in .mp4")
        self.frames_written = 0
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        if self._closed:
            raise VideoWriteError(f"{self.path} is already closed")
        if frame.shape[:2] != (self.size[1], self.size[0]) or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"unexpected frame shape: {frame.shape} != {(self.size[1], self.size[0], 3)}")
        self._writer.write(np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames_written += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.release()

    def __enter__(self) -> "VideoFileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
