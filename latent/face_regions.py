"""Face regions as pixel masks in the alignment crop, built from the crop's face landmarks.

Two partitions, both clipped to the dataset's face mask (``dataset.face_mask``):

* ``region_masks`` — what evaluation scores SSIM on separately: ``mouth`` (the lips and what
  lies between them), ``eyes`` (both eyes with their lids) and ``rest`` (the face mask minus
  the two);
* ``face_parts`` — what the occlusion check names when something covers the face: mouth, eyes,
  brows, nose, forehead, cheeks, chin. Disjoint; every face-mask pixel belongs to one part.

Margins scale with the inter-ocular distance so the regions are the same at any crop size.
The crop is upright (``facekit.geometry.alignment_matrix`` levels the eyes), so forehead,
cheeks and chin are split by rows through the brows and the lower lip.
"""

from __future__ import annotations

import cv2
import numpy as np

from latentcam.facekit import landmarks as lm

REGIONS = ("mouth", "eyes", "rest")
PARTS = ("mouth", "eyes", "brows", "nose", "forehead", "cheeks", "chin")

# Dilation of each landmark hull, as a fraction of the inter-ocular distance: the lip contour
# and eyelid landmarks sit on the margins, so a small band outside them still belongs to the
# mouth (lip border, philtrum edge) and the eyes (lids, lashes, corners).
MOUTH_MARGIN = 0.08
EYE_MARGIN = 0.12
BROW_MARGIN = 0.06
NOSE_MARGIN = 0.10
_NOSE_OUTLINE = lm.NOSE + (48, 278, 64, 294, 129, 358, 49, 279)   # + nostril wings


def _hull(points: np.ndarray, size: int, margin_px: float) -> np.ndarray:
    """bool S×S: filled convex hull of (K, ≥2) crop-pixel points, dilated by ``margin_px``."""
    hull = cv2.convexHull(np.round(np.asarray(points, np.float64)[:, :2] * 16).astype(np.int32))
    out = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(out, hull, 1, lineType=cv2.LINE_8, shift=4)
    r = int(round(margin_px))
    if r > 0:
        out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return out.astype(bool)


def _face(crop_landmarks: np.ndarray, size: int) -> np.ndarray:
    from .dataset import face_mask

    return face_mask(crop_landmarks, size) >= 128


def region_masks(crop_landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """{"mouth", "eyes", "rest"} → float32 S×S masks (0/1) from (478, 3) crop-pixel landmarks.

    ``rest`` is the face mask (thresholded at half) minus mouth and eyes; mouth and eyes are
    not clipped to the face mask (they lie well inside it).
    """
    pts = np.asarray(crop_landmarks, np.float32)
    if pts.shape[0] < lm.NUM_LANDMARKS:
        raise ValueError(f"expected ({lm.NUM_LANDMARKS}, 2|3) crop landmarks, got {pts.shape}")
    iod = lm.interocular_distance(pts)
    mouth = _hull(pts[list(lm.LIPS_OUTER)], size, MOUTH_MARGIN * iod)
    eyes = (_hull(pts[list(lm.RIGHT_EYE)], size, EYE_MARGIN * iod)
            | _hull(pts[list(lm.LEFT_EYE)], size, EYE_MARGIN * iod))
    eyes &= ~mouth
    rest = _face(pts, size) & ~mouth & ~eyes
    return {"mouth": mouth.astype(np.float32), "eyes": eyes.astype(np.float32),
            "rest": rest.astype(np.float32)}


def face_parts(crop_landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """``PARTS`` → bool S×S masks partitioning the face mask (see the module docstring)."""
    pts = np.asarray(crop_landmarks, np.float32)
    iod = lm.interocular_distance(pts)
    face = _face(pts, size)
    taken = np.zeros((size, size), bool)
    out: dict[str, np.ndarray] = {}

    def claim(name: str, mask: np.ndarray) -> None:
        nonlocal taken
        out[name] = mask & face & ~taken
        taken = taken | out[name]

    claim("mouth", _hull(pts[list(lm.LIPS_OUTER)], size, MOUTH_MARGIN * iod))
    claim("eyes", _hull(pts[list(lm.RIGHT_EYE)], size, EYE_MARGIN * iod)
          | _hull(pts[list(lm.LEFT_EYE)], size, EYE_MARGIN * iod))
    claim("brows", _hull(pts[list(lm.RIGHT_BROW)], size, BROW_MARGIN * iod)
          | _hull(pts[list(lm.LEFT_BROW)], size, BROW_MARGIN * iod))
    claim("nose", _hull(pts[list(_NOSE_OUTLINE)], size, NOSE_MARGIN * iod))
    rows = np.arange(size, dtype=np.float32)[:, None] * np.ones((1, size), np.float32)
    brow_row = float(pts[list(lm.RIGHT_BROW + lm.LEFT_BROW), 1].min())
    chin_row = float(pts[list(lm.LIPS_OUTER), 1].max())
    claim("forehead", rows < brow_row)
    claim("chin", rows > chin_row)
    claim("cheeks", np.ones((size, size), bool))
    return {k: out[k] for k in PARTS}
