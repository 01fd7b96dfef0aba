"""Where a rendered face may cover the picture, and removing a photo's own face from its plate.

* ``face_polygon``: the driver's face in crop space as a polygon — the landmark face oval with
  the forehead cut just above the brows and pulled in slightly — so a pasted face covers the
  driver's face but never the target's hair or fringe (which in the render sits above the
  brows and at the temples), and the render meets the driver's own skin on every side.
* ``template_face_oval``: the face oval of MediaPipe's canonical face in an alignment crop,
  i.e. where *any* aligned face lies; through a plate's alignment matrix it locates the
  photo's face without tracking the plate.
* ``fill_region``: paint a region over from its surroundings (OpenCV's Telea inpainting at low
  resolution, blurred, blended in with a feathered edge). Used once on the portrait plate, so
  that when the rendered head moves or turns the plate shows hair and background where the
  photo's face was, not a second jaw line or cheek.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from latentcam.facekit import landmarks as lm
from latentcam.facekit.geometry import CROP_CENTRE_X, CROP_CENTRE_Y, CROP_CM_PER_SIDE

_OVAL = np.array(lm.FACE_OVAL)
_BROWS = np.array(lm.RIGHT_BROW + lm.LEFT_BROW)


def face_polygon(points: np.ndarray, forehead: float = 0.3, brow_margin: float = 0.05,
                 inset: float = 0.9) -> np.ndarray:
    """(36, 2) float32 polygon of the face in the coordinates of ``points`` ((478, 2+) landmarks
    in an upright frame such as the alignment crop, y down).

    The face oval, its top cut by a horizontal line: the forehead above it, where the hairline
    and a fringe are, stays the driver's. The line lies ``forehead`` × the interocular distance
    (IOD) above the eye line — tied to the eyes because a target's fringe sits at a fixed height
    over its eyes in the aligned render (the default target's starts about 0.4 IOD above its
    eye line) — or, when the driver's brows reach higher, ``brow_margin`` IOD above the brows,
    so the driver's own brows are always covered (two pairs of brows look worse than a strand
    of fringe). Then the polygon is scaled by ``inset`` about its centroid: the oval's landmarks
    lie on the face's silhouette, and a render blended there meets hair and background, whose
    contrast no colour match can hide; inset, it meets the driver's own skin.
    """
    p = np.asarray(points, np.float64)[:, :2]
    poly = p[_OVAL].copy()
    right, left = lm.eye_centres(p)
    eye_y = float((right[1] + left[1]) / 2.0)
    iod = float(np.linalg.norm(left - right))
    brow_top = float(p[_BROWS, 1].min())
    cut = min(eye_y - forehead * iod, brow_top - brow_margin * iod)
    poly[:, 1] = np.maximum(poly[:, 1], cut)
    centre = poly.mean(axis=0)
    return (centre + inset * (poly - centre)).astype(np.float32)


def polygon_mask(polygon: np.ndarray, size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """uint8 (h, w) mask, 255 inside ``polygon`` × ``scale`` (anti-aliased edge)."""
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    pts = np.rint(np.asarray(polygon, np.float64) * scale * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def scaled_about_centre(polygon: np.ndarray, factor: float) -> np.ndarray:
    poly = np.asarray(polygon, np.float64)
    centre = poly.mean(axis=0)
    return (centre + factor * (poly - centre)).astype(np.float32)


@lru_cache(maxsize=4)
def template_face_oval(size: int) -> np.ndarray:
    """(36, 2) face oval of the canonical face in a size² alignment crop (``facekit.geometry``'s
    crop convention: the stable points of any aligned face land near the same template)."""
    from latentcam.facekit.canonical import load_canonical_face

    v = load_canonical_face().vertices[_OVAL, :2].astype(np.float64)
    px = size / CROP_CM_PER_SIDE
    out = np.stack([CROP_CENTRE_X * size + v[:, 0] * px, CROP_CENTRE_Y * size - v[:, 1] * px], axis=1)
    out.setflags(write=False)
    return out


def fill_region(image: np.ndarray, mask: np.ndarray, work_px: int = 48,
                feather_px: float = 4.0) -> np.ndarray:
    """A copy of BGR ``image`` with the region where ``mask`` (uint8, same size, nonzero = in)
    is set painted over from its surroundings.

    The region's bounding box (with a margin) is shrunk so the region spans about ``work_px``
    pixels, inpainted there (Telea; at full size a face-sized hole takes seconds and leaves
    streaks), blurred so no edge of the old content survives, scaled back and blended in over
    the mask blurred by ``feather_px`` (image pixels). The result has no structure inside the
    region: nothing a moving render could reveal as a second outline.
    """
    ys, xs = np.nonzero(mask)
    h, w = image.shape[:2]
    if len(xs) < 4:
        return image.copy()
    lo, hi = np.array([xs.min(), ys.min()], float), np.array([xs.max(), ys.max()], float)
    extent = float(max(hi - lo)) + 1.0
    margin = 0.35 * extent
    x0, y0 = (int(max(0, np.floor(v - margin))) for v in lo)
    x1, y1 = int(min(w, np.ceil(hi[0] + margin))), int(min(h, np.ceil(hi[1] + margin)))
    roi = image[y0:y1, x0:x1]
    region = mask[y0:y1, x0:x1]
    k = min(1.0, work_px / extent)
    sw, sh = max(8, int(round((x1 - x0) * k))), max(8, int(round((y1 - y0) * k)))
    small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA)
    hole = (cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8) * 255
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8), iterations=2)
    filled = cv2.inpaint(small, hole, max(3, work_px // 8), cv2.INPAINT_TELEA)
    blur = max(3, (work_px // 3) | 1)
    filled = np.where(hole[:, :, None] > 0, cv2.GaussianBlur(filled, (blur, blur), 0), filled)
    up = cv2.resize(filled, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
    alpha = region.astype(np.float32) / 255.0
    if feather_px > 0:
        kb = int(2 * round(feather_px) + 1)
        alpha = cv2.GaussianBlur(alpha, (kb, kb), 0)
    alpha = alpha[:, :, None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(alpha * up + (1.0 - alpha) * roi, 0, 255).astype(np.uint8)
    return out
