"""Encoder input features: one tracked (or retargeted) face → one float32 vector.

numpy only: the live CPU path builds its encoder input with this same function, and it has no
torch. Layout of the (F,) vector, F = 3 * len(EXPRESSIVE) + 52 + 3 = 505:

* ``points``: the expressive landmark subset (``facekit.landmarks.EXPRESSIVE``, 150 points) in
  the canonical face frame (cm, head pose removed), divided by ``POINT_SCALE`` (x, y, z per
  point, point-major);
* ``blendshapes``: the 52 MediaPipe scores (0..1) as they are;
* ``pose``: yaw, pitch, roll in degrees divided by ``POSE_SCALE``.

``FEATURE_LAYOUT`` splits the entries into an *upper* face (eyes, brows, irises, forehead),
a *lower* face (lips, jaw, cheeks) and *shared* entries (nose, pose, the ``_neutral`` score).
Region mixing during training and the factorised encoder both rely on that split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from latentcam.facekit import landmarks as lm
from latentcam.facekit.blendshapes import BLENDSHAPE_NAMES, NUM_BLENDSHAPES
from latentcam.facekit.canonical import load_canonical_face

POINT_SCALE = 5.0    # cm → roughly unit range (the canonical face spans about ±8 cm)
POSE_SCALE = 30.0    # degrees → roughly unit range for the head poses a webcam sees
NUM_POINTS = len(lm.EXPRESSIVE)
FEATURE_SIZE = 3 * NUM_POINTS + NUM_BLENDSHAPES + 3

_UPPER_BLENDSHAPE_PREFIXES = ("brow", "eye", "cheekSquint")
_LOWER_BLENDSHAPE_PREFIXES = ("jaw", "mouth", "cheekPuff", "noseSneer")


@dataclass(frozen=True)
class FeatureLayout:
    """Index arrays into the (F,) feature vector for each face region."""

    upper: np.ndarray   # eyes, brows, irises, upper face oval, their blendshapes
    lower: np.ndarray   # lips, lower face oval, jaw/mouth/cheek blendshapes
    shared: np.ndarray  # nose points, pose, the _neutral score

    @property
    def size(self) -> int:
        return FEATURE_SIZE


def _split_row_cm() -> float:
    """Canonical y (cm, +up) separating upper from lower face: just below the nose base."""
    face = load_canonical_face()
    return float(face.vertices[lm.NOSE_TIP, 1] - 0.5)


@lru_cache(maxsize=1)
def feature_layout() -> FeatureLayout:
    face = load_canonical_face()
    split = _split_row_cm()
    upper_pts = set(lm.RIGHT_EYE + lm.LEFT_EYE + lm.RIGHT_BROW + lm.LEFT_BROW + lm.RIGHT_IRIS
                    + lm.LEFT_IRIS)
    lower_pts = set(lm.LIPS_OUTER + lm.LIPS_INNER)
    for i in lm.FACE_OVAL:
        (upper_pts if face.vertices[i, 1] > split else lower_pts).add(i)
    upper, lower, shared = [], [], []
    for k, idx in enumerate(lm.EXPRESSIVE):
        target = upper if idx in upper_pts else lower if idx in lower_pts else shared
        target.extend((3 * k, 3 * k + 1, 3 * k + 2))
    base = 3 * NUM_POINTS
    for j, name in enumerate(BLENDSHAPE_NAMES):
        if name.startswith(_UPPER_BLENDSHAPE_PREFIXES):
            upper.append(base + j)
        elif name.startswith(_LOWER_BLENDSHAPE_PREFIXES):
            lower.append(base + j)
        else:
            shared.append(base + j)
    shared.extend(range(base + NUM_BLENDSHAPES, FEATURE_SIZE))
    return FeatureLayout(np.array(upper), np.array(lower), np.array(shared))


def lower_face_points() -> np.ndarray:
    """Mesh landmark indices below ``feature_layout``'s split row (lips, chin, jaw, lower cheeks):
    the points a target's blendshape rig places (``facekit.rig``)."""
    return np.flatnonzero(load_canonical_face().vertices[:, 1] < _split_row_cm()).astype(np.int64)


def crop_split_row(size: int) -> float:
    """The crop row (pixels, in a ``size``² alignment crop) matching ``feature_layout``'s split."""
    from latentcam.facekit.geometry import CROP_CENTRE_Y, CROP_CM_PER_SIDE
    return CROP_CENTRE_Y * size - _split_row_cm() * size / CROP_CM_PER_SIDE


def _check(points: np.ndarray, blendshapes: np.ndarray, pose: np.ndarray, batch: bool) -> None:
    lead = (points.shape[0],) if batch else ()
    if points.shape != lead + (lm.NUM_LANDMARKS, 3):
        raise ValueError(f"expression_features: points must be {lead + (lm.NUM_LANDMARKS, 3)} "
                         f"canonical-frame landmarks, got {points.shape}")
    if blendshapes.shape != lead + (NUM_BLENDSHAPES,):
        raise ValueError(f"expression_features: blendshapes must be {lead + (NUM_BLENDSHAPES,)}, "
                         f"got {blendshapes.shape}")
    if pose.shape != lead + (3,):
        raise ValueError(f"expression_features: pose must be {lead + (3,)} yaw/pitch/roll degrees, "
                         f"got {pose.shape}")


def expression_features_batch(points: np.ndarray, blendshapes: np.ndarray,
                              pose: np.ndarray) -> np.ndarray:
    """(N, 478, 3) canonical cm, (N, 52), (N, 3) degrees → (N, F) float32."""
    points = np.asarray(points, dtype=np.float32)
    blendshapes = np.asarray(blendshapes, dtype=np.float32)
    pose = np.asarray(pose, dtype=np.float32)
    _check(points, blendshapes, pose, batch=True)
    sub = points[:, np.array(lm.EXPRESSIVE), :] / POINT_SCALE
    out = np.concatenate([sub.reshape(len(points), -1), blendshapes, pose / POSE_SCALE], axis=1)
    if not np.all(np.isfinite(out)):
        raise ValueError("expression_features: non-finite values in the landmarks, blendshapes "
                         "or pose (a tracking failure?)")
    return out.astype(np.float32, copy=False)


def expression_features(points: np.ndarray, blendshapes: np.ndarray,
                        pose: np.ndarray) -> np.ndarray:
    """(478, 3) canonical cm, (52,), (3,) yaw/pitch/roll degrees → (F,) float32."""
    points = np.asarray(points, dtype=np.float32)
    blendshapes = np.asarray(blendshapes, dtype=np.float32)
    pose = np.asarray(pose, dtype=np.float32)
    _check(points, blendshapes, pose, batch=False)
    return expression_features_batch(points[None], blendshapes[None], pose[None])[0]
