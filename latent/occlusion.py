"""Occluded training frames: where a hand covers the face, and which parts of it.

A person-specific decoder learns whatever its training crops show; a hand over the mouth in a
third of the frames becomes a ghostly hand in every render. ``latentcam prepare`` therefore
runs MediaPipe's HandLandmarker (``facekit.hands``) on every kept frame and stores, per frame,
the hands' landmarks in crop pixels; from them this module builds

* an *occluder mask* (uint8 S×S, 255 = covered): the convex hull of each hand's 21 landmarks
  plus a stub of the forearm beyond the wrist, dilated by a finger's width — the landmarks run
  along the bones, so the hull alone would cut the fingers' edges off;
* the fraction of each face part (``face_regions.PARTS``: mouth, eyes, brows, nose, forehead,
  cheeks, chin) and of the whole face mask under it.

Training multiplies ``1 − occluder`` into its per-pixel loss weights (``TrainingData.valid``),
so the model is never asked to paint a hand; frame pickers (neutral texture, exemplars,
background plate) take frames with ``TrainingData.occluded == False``.

Only hands are detected. Hair or an object over the face is not: MediaPipe's face landmarker
gives no per-landmark visibility, and no offline measure for those was validated here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from latentcam.facekit.hands import NUM_HAND_LANDMARKS

from .face_regions import PARTS, face_parts

# A frame counts as occluded when the occluder covers at least this fraction of its face mask.
# A hand that only brushes the jaw line covers a few percent; one over mouth or eyes 10–40 %.
OCCLUDED_MIN_FRACTION = 0.02
# Finger half-width as a fraction of the palm's width (index-finger base to little-finger base).
FINGER_MARGIN = 0.22
# Forearm stub drawn beyond the wrist, as a fraction of the wrist → middle-finger-base length.
FOREARM_LENGTH = 0.8
MAX_HANDS = 2
_WRIST, _INDEX_MCP, _MIDDLE_MCP, _PINKY_MCP = 0, 5, 9, 17


@dataclass(frozen=True)
class FrameOcclusion:
    mask: np.ndarray                 # uint8 S×S, 255 where an occluder covers the crop
    parts: dict[str, float]          # face part → fraction of its pixels covered
    face_fraction: float             # fraction of the face mask covered

    @property
    def occluded(self) -> bool:
        return self.face_fraction >= OCCLUDED_MIN_FRACTION

    def covered_parts(self, min_fraction: float = 0.1) -> list[str]:
        """Parts at least ``min_fraction`` covered, in ``PARTS`` order."""
        return [p for p in PARTS if self.parts[p] >= min_fraction]


def hand_mask(hands_crop_px: np.ndarray, size: int) -> np.ndarray:
    """uint8 S×S occluder mask of (H, 21, ≥2) hand landmarks in crop pixels (NaN rows skipped)."""
    out = np.zeros((size, size), np.uint8)
    pts_all = np.asarray(hands_crop_px, np.float64)
    for hand in pts_all.reshape(-1, NUM_HAND_LANDMARKS, pts_all.shape[-1]):
        xy = hand[:, :2]
        if not np.isfinite(xy).all():
            continue
        palm = float(np.linalg.norm(xy[_INDEX_MCP] - xy[_PINKY_MCP]))
        # The forearm stub: two points either side of the wrist line extended, a palm apart.
        axis = xy[_WRIST] - xy[_MIDDLE_MCP]
        arm = xy[_WRIST] + FOREARM_LENGTH * axis
        norm = np.array([-axis[1], axis[0]]) / max(float(np.linalg.norm(axis)), 1e-6)
        stub = np.stack([arm + 0.5 * palm * norm, arm - 0.5 * palm * norm])
        pts = np.concatenate([xy, stub])
        hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))
        one = np.zeros_like(out)
        cv2.fillConvexPoly(one, hull, 255, lineType=cv2.LINE_8, shift=4)
        r = int(round(FINGER_MARGIN * palm))
        if r > 0:
            one = cv2.dilate(one, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        out |= one
    return out


def hands_to_crop(hands_px: np.ndarray, alignment: np.ndarray) -> np.ndarray:
    """(H, 21, 3) source-pixel hand landmarks → crop pixels with the (2, 3) alignment matrix
    (z is scaled by the alignment's scale, like ``facekit.geometry.transform_points``)."""
    h = np.asarray(hands_px, np.float32)
    m = np.asarray(alignment, np.float32)
    out = h.copy()
    out[..., :2] = h[..., :2] @ m[:, :2].T + m[:, 2]
    out[..., 2] = h[..., 2] * float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    return out


def frame_occlusion(hands_crop_px: np.ndarray, crop_landmarks: np.ndarray, size: int,
                    face_mask: np.ndarray | None = None) -> FrameOcclusion:
    """Occluder mask and covered face parts of one frame (hands and face in crop pixels)."""
    from .dataset import face_mask as make_face_mask

    mask = hand_mask(hands_crop_px, size)
    covered = mask >= 128
    face = (make_face_mask(crop_landmarks, size) if face_mask is None else face_mask) >= 128
    parts = face_parts(crop_landmarks, size)
    fractions = {p: float((covered & m).sum()) / max(int(m.sum()), 1) for p, m in parts.items()}
    return FrameOcclusion(mask, fractions, float((covered & face).sum()) / max(int(face.sum()), 1))


def summarise(parts: np.ndarray, face_fraction: np.ndarray, min_part_fraction: float = 0.1
              ) -> dict:
    """Dataset-level counts from per-frame ``(N, len(PARTS))`` part fractions and ``(N,)``
    face fractions: occluded frames, and per part the occluded frames that cover it."""
    occluded = np.asarray(face_fraction) >= OCCLUDED_MIN_FRACTION
    by_part = {p: int(((np.asarray(parts)[:, k] >= min_part_fraction) & occluded).sum())
               for k, p in enumerate(PARTS)}
    return {"frames": int(len(occluded)), "occluded": int(occluded.sum()), "parts": by_part,
            "min_face_fraction": OCCLUDED_MIN_FRACTION, "min_part_fraction": min_part_fraction}
