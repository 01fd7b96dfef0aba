"""Face geometry: the canonical face frame, head pose angles and the alignment crop.

Two normalisations, both fitted on landmarks that barely move with expression
(``landmarks.STABLE``), so expressions survive them:

* ``canonicalize`` — a 3D similarity (Umeyama) from the tracked point cloud onto MediaPipe's
  canonical face model. It removes head position, scale *and rotation*: what remains is the
  face's shape and expression in centimetres, comparable across frames and people.
* ``alignment_matrix`` / ``warp_to_crop`` — a 2D similarity from the image onto a fixed
  template in a square crop. The dataset builder, the decoder and the live compositor all use
  this one definition, so a rendered crop can be pasted back with the inverse matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .canonical import load_canonical_face
from .landmarks import STABLE


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
            ) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s * R @ src + t`` for (N, D) point sets.

    Returns (s, R (D, D), t (D,)). ``weights`` (N,) are non-negative point weights.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ src
    mu_d = w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = float(w @ (xs ** 2).sum(axis=1))
    scale = float((sig * d).sum() / var_s) if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return scale, rot, trans


def image_to_model_axes(landmarks_px: np.ndarray) -> np.ndarray:
    """Image points (x right, y down, z away from camera) → model axes (+y up, +z to viewer)."""
    pts = np.asarray(landmarks_px, dtype=np.float64).copy()
    pts[:, 1] *= -1.0
    pts[:, 2] *= -1.0
    return pts


@dataclass(frozen=True)
class CanonicalPose:
    """Result of ``canonicalize``: points in the canonical frame and the fitted similarity."""

    points: np.ndarray     # (478, 3) float32, centimetres in the canonical face frame
    scale: float           # canonical cm per image pixel
    rotation: np.ndarray   # (3, 3) model-axes image frame → canonical frame
    translation: np.ndarray  # (3,)


def canonicalize(landmarks_px: np.ndarray) -> CanonicalPose:
    """Remove head position, scale and rotation from a (478, 3) pixel landmark array."""
    face = load_canonical_face()
    model_pts = image_to_model_axes(landmarks_px)
    idx = np.array(STABLE)
    s, rot, t = umeyama(model_pts[idx], face.vertices[idx])
    points = (s * (rot @ model_pts.T)).T + t
    return CanonicalPose(points.astype(np.float32), s, rot, t)


def rotation_to_euler(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a 3×3 rotation, ZYX order (R = Rz(roll) Ry(yaw) Rx(pitch)).

    Convention for a head transform (canonical face → camera): yaw > 0 turns the face to
    the subject's left (image right), pitch > 0 tilts the chin up, roll > 0 tilts the head
    counter-clockwise as seen in the image.
    """
    r = np.asarray(rot, dtype=np.float64)
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2])))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def euler_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of ``rotation_to_euler`` (degrees in, 3×3 out)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def head_pose(head_transform: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees from MediaPipe's 4×4 facial transformation matrix."""
    return rotation_to_euler(np.asarray(head_transform)[:3, :3])


# --- alignment crop -------------------------------------------------------------------------

# Where the canonical face sits in a square crop: the canonical origin (between the eyes and
# the nose tip) maps to (CROP_CENTRE_X, CROP_CENTRE_Y) in crop-relative units, and
# CROP_CM_PER_SIDE centimetres of the canonical face span the crop's side. 21 cm shows the whole
# face from chin to hairline with a little background, like a tight portrait.
CROP_CENTRE_X = 0.5
CROP_CENTRE_Y = 0.45
CROP_CM_PER_SIDE = 21.0


@lru_cache(maxsize=8)
def crop_template(size: int) -> np.ndarray:
    """(478-length is not needed) template positions of ``STABLE`` landmarks in a size² crop."""
    face = load_canonical_face()
    pts = face.vertices[np.array(STABLE), :2].astype(np.float64)
    px_per_cm = size / CROP_CM_PER_SIDE
    out = np.empty_like(pts)
    out[:, 0] = CROP_CENTRE_X * size + pts[:, 0] * px_per_cm
    out[:, 1] = CROP_CENTRE_Y * size - pts[:, 1] * px_per_cm
    return out


def alignment_matrix(landmarks_px: np.ndarray, size: int) -> np.ndarray:
    """2×3 similarity mapping image pixels → the size² alignment crop."""
    src = np.asarray(landmarks_px, dtype=np.float64)[np.array(STABLE), :2]
    s, rot, t = umeyama(src, crop_template(size))
    return np.hstack([s * rot, t[:, None]]).astype(np.float64)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int,
                 border: int = cv2.BORDER_REFLECT101) -> np.ndarray:
    """Cut the alignment crop out of ``image`` with ``matrix`` from ``alignment_matrix``."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine to (N, 2+) points (x, y only; extra columns are scaled by the
    similarity's scale so depth stays in the same units)."""
    pts = np.asarray(points, dtype=np.float64)
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    if pts.shape[1] > 2:
        out[:, 2:] = pts[:, 2:] * float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return out
