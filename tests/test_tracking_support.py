"""Test helper (no tests): a real clip's frames tracked by MediaPipe in VIDEO mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np


def tracked_frames(clip: Path, max_frames: int | None = None, fps: float = 30.0
                   ) -> Iterator[tuple[int, np.ndarray, object]]:
    """Yield ``(index, frame, FaceObservation or None)`` for the clip's first frames."""
    from latentcam.facekit.tracker import FaceTracker

    cap = cv2.VideoCapture(str(clip))
    try:
        with FaceTracker() as tracker:
            i = 0
            while max_frames is None or i < max_frames:
                ok, frame = cap.read()
                if not ok:
                    return
                yield i, frame, tracker.track(frame, i, i / fps).face
                i += 1
    finally:
        cap.release()
