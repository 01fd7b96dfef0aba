"""Typed results of face tracking. "No face" is a value (``TrackResult.face is None``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blendshapes import INDEX


@dataclass(frozen=True)
class FaceObservation:
    """One tracked face in one frame.

    landmarks_px:   (478, 3) float32 — x, y in pixels; z in pixels too (MediaPipe's z is
                    relative depth in units of the image width), so the point cloud is
                    roughly metric up to scale under weak perspective.
    landmarks_norm: (478, 3) float32 — MediaPipe's normalised output (x, y in 0..1).
    blendshapes:    (52,) float32 scores in 0..1, ordered as ``BLENDSHAPE_NAMES``.
    head_transform: (4, 4) float32 — canonical face model → camera (MediaPipe convention,
                    centimetres, camera looks down -z).
    bbox:           (x0, y0, x1, y1) pixel box around the landmarks.
    """

    landmarks_px: np.ndarray
    landmarks_norm: np.ndarray
    blendshapes: np.ndarray
    head_transform: np.ndarray
    bbox: tuple[float, float, float, float]
    image_size: tuple[int, int]  # (width, height)

    def blendshape(self, name: str) -> float:
        return float(self.blendshapes[INDEX[name]])

    @property
    def bbox_area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


@dataclass(frozen=True)
class TrackResult:
    """What the tracker saw in one frame.

    ``face`` is the face kept for the track (None when no face was found); ``num_faces`` how
    many faces the model returned; ``elapsed_ms`` the tracker's own time for the frame.
    """

    frame_index: int
    capture_time: float  # time.monotonic() seconds when the frame was captured
    face: FaceObservation | None
    num_faces: int
    elapsed_ms: float

    @property
    def has_face(self) -> bool:
        return self.face is not None
