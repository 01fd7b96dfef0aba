"""Where a rendered face may cover the picture, and removing a photo's own face from its plate.

* ``face_polygon``: the driver's face in crop space as a polygon — the landmark face oval with
  the forehead cut just above the brows and pulled in slightly — so a pasted face covers the
  driver's face but never the target's hair or fringe (which in the render sits above the
  brows and at the temples), and the render meets the driver's own skin on every side.
* ``template_face_oval``: the face oval of MediaPipe's canonical face in an alignment crop,
  i.e. where *any* aligned face lies; through a plate's alignment matrix it locates the
  photo's face without tracking the plate.
* ``fill_region``: paint a region over with what lies beside it (row by row, blended from
  left to right, smoothed, feathered in). Used once on the portrait plate, so
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


def fill_region(image: np.ndarray, mask: np.ndarray, feather_px: float = 4.0,
                edge_px: int = 4) -> np.ndarray:
    """A copy of BGR ``image`` with the region where ``mask`` (uint8, same size, nonzero = in)
    is set painted over with what lies beside it.

    Row by row, the region is filled by a straight blend from the colour just left of it to
    the colour just right of it (each the mean of ``edge_px`` pixels, two pixels out), then
    smoothed along the columns so no row stands out, and blended in over the mask blurred by
    ``feather_px``. Beside a face are hair and background, and that is what a head that moves
    or turns reveals; inpainting from the whole boundary instead (cv2.inpaint) pulls the collar
    or neck below the chin up into a dark patch. The result has no structure inside the
    region: nothing a moving render could reveal as a second outline.
    """
    region = mask > 0
    ys, xs = np.nonzero(region)
    if len(xs) < 4:
        return image.copy()
    h, w = image.shape[:2]
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    img = image.astype(np.float32)
    fill = img[y0:y1].copy()
    rows = np.zeros(y1 - y0, bool)
    for y in range(y0, y1):
        cols = np.nonzero(region[y])[0]
        if len(cols) == 0:
            continue
        left, right = int(cols.min()), int(cols.max())
        lo = img[y, max(0, left - 2 - edge_px):max(1, left - 2)].reshape(-1, 3)
        hi = img[y, min(w - 1, right + 2):min(w, right + 2 + edge_px)].reshape(-1, 3)
        cl = lo.mean(axis=0) if len(lo) else None
        cr = hi.mean(axis=0) if len(hi) else None
        cl = cr if cl is None else cl
        cr = cl if cr is None else cr
        if cl is None:
            continue
        t = np.linspace(0.0, 1.0, right - left + 1, dtype=np.float32)[:, None]
        fill[y - y0, left:right + 1] = (1.0 - t) * cl + t * cr
        rows[y - y0] = True
    k = max(3, ((y1 - y0) // 6) | 1)
    inside = region[y0:y1].astype(np.float32)
    # Smooth along columns, only over filled pixels (normalised blur).
    num = cv2.GaussianBlur(fill * inside[:, :, None], (1, k), 0)
    den = cv2.GaussianBlur(inside, (1, k), 0)[:, :, None]
    fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), fill)
    alpha = region.astype(np.float32)
    if feather_px > 0:
        kb = int(2 * round(feather_px) + 1)
        alpha = cv2.GaussianBlur(alpha, (kb, kb), 0)
    alpha = alpha[y0:y1, :, None]
    out = image.copy()
    out[y0:y1] = np.clip(alpha * fill + (1.0 - alpha) * img[y0:y1], 0, 255).astype(np.uint8)
    return out
