"""A real clip's frames tracked by MediaPipe in VIDEO mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from latentcam.facekit.observation import FaceObservation


def tracked_frames(clip: Path, max_frames: int | None = None, fps: float = 30.0
                   ) -> Iterator[tuple[int, np.ndarray, FaceObservation | None]]:
    """Yield ``(index, frame, FaceObservation or None)`` for the clip's first frames."""
    from latentcam.facekit.sources import VideoFileSource
    from latentcam.facekit.tracker import FaceTracker

    with VideoFileSource(clip) as source, FaceTracker() as tracker:
        while max_frames is None or source.stats.frames_delivered < max_frames:
            frame = source.read()
            if frame is None:
                return
            yield frame.index, frame.image, tracker.track(frame.image, frame.index, frame.index / fps).face


def training_observations(faces: list[FaceObservation]):
    """The arrays a rig fit reads from a training set (``latent.export.rig_regression_data``:
    canonical points, blendshapes, occlusion, manifest, frame index), for tracked faces: a
    recorded set (not synthetic), nothing covered."""
    from types import SimpleNamespace

    from latentcam.facekit.geometry import canonicalize

    canonical = np.stack([canonicalize(f.landmarks_px).points for f in faces]).astype(np.float32)
    return SimpleNamespace(canonical=canonical, blendshapes=np.stack([f.blendshapes for f in faces]),
                           occluded=np.zeros(len(faces), bool), manifest={},
                           frame_index=np.arange(len(faces)))
