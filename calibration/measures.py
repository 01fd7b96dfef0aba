"""Scalar expression measures on canonical-frame landmarks, used to size expression ranges.

Each measure grows with its expression (so a range is "how far the driver got from neutral"):

* ``mouth_open``: gap between the inner lips, cm;
* ``smile``: distance between the mouth corners, cm;
* ``brows_up``: mean height of the brows above the eye centres, cm;
* ``eyes_closed``: minus the mean eyelid opening, cm;
* ``gaze_horizontal``: iris centre offset from the eye-corner midpoint in eye widths (unitless,
  mean of both eyes; + is towards the subject's left).

They depend only on ``facekit``, so a target's ranges can be measured with the same code.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from latentcam.facekit import landmarks as lm

Measure = Callable[[np.ndarray], float]


def mouth_open(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[lm.UPPER_LIP_INNER] - p[lm.LOWER_LIP_INNER]))


def smile(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[lm.MOUTH_LEFT] - p[lm.MOUTH_RIGHT]))


def brows_up(p: np.ndarray) -> float:
    right_eye, left_eye = lm.eye_centres(p)
    right = p[list(lm.RIGHT_BROW), 1].mean() - right_eye[1]
    left = p[list(lm.LEFT_BROW), 1].mean() - left_eye[1]
    return float((right + left) / 2.0)


def eyes_closed(p: np.ndarray) -> float:
    right = np.linalg.norm(p[lm.RIGHT_EYE_TOP] - p[lm.RIGHT_EYE_BOTTOM])
    left = np.linalg.norm(p[lm.LEFT_EYE_TOP] - p[lm.LEFT_EYE_BOTTOM])
    return float(-(right + left) / 2.0)


def gaze_horizontal(p: np.ndarray) -> float:
    right_eye, left_eye = lm.eye_centres(p)
    right_w = np.linalg.norm(p[lm.RIGHT_EYE_OUTER] - p[lm.RIGHT_EYE_INNER])
    left_w = np.linalg.norm(p[lm.LEFT_EYE_OUTER] - p[lm.LEFT_EYE_INNER])
    right = (p[lm.RIGHT_IRIS[0], 0] - right_eye[0]) / max(right_w, 1e-6)
    left = (p[lm.LEFT_IRIS[0], 0] - left_eye[0]) / max(left_w, 1e-6)
    return float((right + left) / 2.0)


MEASURES: dict[str, Measure] = {
    "mouth_open": mouth_open,
    "smile": smile,
    "brows_up": brows_up,
    "eyes_closed": eyes_closed,
    "gaze_horizontal": gaze_horizontal,
}

# Below these a measured range is noise, not an expression: it is ignored for scaling.
MIN_RANGE: dict[str, float] = {
    "mouth_open": 0.15, "smile": 0.15, "brows_up": 0.05, "eyes_closed": 0.1,
    "gaze_horizontal": 0.03,
}

# The facekit blendshape group that moves with each measure.
MEASURE_BLENDSHAPE_GROUP: dict[str, str] = {
    "mouth_open": "mouth_open", "smile": "smile", "brows_up": "brows_up",
    "eyes_closed": "blink", "gaze_horizontal": "gaze_horizontal",
}

# Which measures size each landmark region (facekit.landmarks.REGIONS), and along which
# canonical axis (0 = x, 1 = y) the region's shape ratio applies to that measure.
REGION_MEASURES: dict[str, tuple[tuple[str, int], ...]] = {
    "mouth": (("mouth_open", 1), ("smile", 0)),
    "jaw": (("mouth_open", 1),),
    "right_eye": (("eyes_closed", 1),),
    "left_eye": (("eyes_closed", 1),),
    "right_brow": (("brows_up", 1),),
    "left_brow": (("brows_up", 1),),
    "right_iris": (("gaze_horizontal", -1),),   # -1: gaze is normalised, no shape ratio
    "left_iris": (("gaze_horizontal", -1),),
}


def measure_all(points: np.ndarray) -> dict[str, float]:
    """Every measure of one (478, 3) canonical-frame face."""
    return {name: fn(points) for name, fn in MEASURES.items()}


def measure_ranges(neutral_points: np.ndarray, frames: np.ndarray,
                   percentile: float = 95.0) -> dict[str, float]:
    """How far each measure got above neutral over ``frames`` (N, 478, 3): a high percentile
    of (measure - neutral measure), never below 0. Useful for a target's training frames too."""
    base = measure_all(neutral_points)
    out = {}
    for name, fn in MEASURES.items():
        values = np.array([fn(p) for p in frames]) - base[name]
        if name == "gaze_horizontal":
            values = np.abs(values)
        out[name] = float(max(0.0, np.percentile(values, percentile))) if len(values) else 0.0
    return out
