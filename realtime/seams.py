"""How visible the edge of a composited render is: the seam contrast.

Definition (one output frame, the blend's alpha at the output size):

1. The *boundary* is the outer contour of ``alpha >= 0.5`` (the largest region), resampled to
   ``samples`` points evenly spaced along it. At each point ``p`` the outward unit normal ``n``
   comes from the contour's tangent (central difference over ±3 samples).
2. The frame is converted to CIELAB (true units: L 0..100) and smoothed with a Gaussian of
   sigma ``step / 2``, so each sample is a local colour average, not single-pixel texture.
3. At distance ``step`` (output pixels) three samples are taken along the normal:
   ``o = p + step·n`` (just outside), ``i1 = p − step·n`` (just inside),
   ``i2 = p − 3·step·n`` (further inside, the same 2·step from ``i1`` as ``o`` is).
4. ``across = |Lab(o) − Lab(i1)|`` (CIE76 ΔE) is the contrast across the boundary,
   ``inside = |Lab(i1) − Lab(i2)|`` the contrast over the same distance just inside it, and
   ``outside = |Lab(o) − Lab(o2)|`` with ``o2 = p + 3·step·n`` the same just outside it — a
   second outline running beside the render (the photo's own jaw line under a moved face)
   shows there. Points whose samples leave the frame are skipped.
5. The frame's *seam contrast* is mean(across) and the *seam ratio* mean(across) / mean(inside).
6. With a ``reference`` (the same picture without the render: the driver's frame in paste
   mode, the photo plate in portrait mode), boundary points where the reference itself changes
   by ``natural_edge`` ΔE or more across the boundary (the face's silhouette against hair or
   background, a collar) are left out: there a contrast is the picture's own, not a seam. The
   remaining points are where a seam would show; ``reference_across`` is the reference's
   across-contrast on them (the floor a perfect composite would reach).

A render that meets the picture without a seam changes colour across its edge no more than
the skin changes over the same distance inside it (ratio ≈ 1); a pasted face of another colour,
a hard edge or a second outline right outside the mask raise ``across`` and the ratio. Natural
edges (the jaw against a dark background) also count, which is why "before" and "after" are
compared on the same frames and why ``across`` is reported beside the ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SeamContrast:
    across: float      # mean ΔE across the boundary (o vs i1)
    inside: float      # mean ΔE just inside it (i1 vs i2)
    outside: float     # mean ΔE just outside it (o vs o2): a second outline beside the render
    ratio: float       # across / inside
    points: int        # boundary samples used
    reference_across: float | None = None   # the reference picture's across-contrast there


def _bilinear(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    m = cv2.remap(img, xy[:, 0].astype(np.float32).reshape(-1, 1),
                  xy[:, 1].astype(np.float32).reshape(-1, 1), cv2.INTER_LINEAR)
    return m.reshape(len(xy), -1)


def _smoothed_lab(image_bgr: np.ndarray, step: float) -> np.ndarray:
    lab = cv2.cvtColor(image_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    return cv2.GaussianBlur(lab, (0, 0), max(0.5, step / 2.0))


def seam_contrast(image_bgr: np.ndarray, alpha: np.ndarray, step: float, samples: int = 256,
                  reference: np.ndarray | None = None, natural_edge: float = 10.0
                  ) -> SeamContrast | None:
    """The seam contrast of ``image_bgr`` (uint8) at the edge of ``alpha`` (float 0..1 or uint8
    0..255, same size), optionally only where ``reference`` (uint8, same size) has no edge of
    its own; None when the alpha has no region or fewer than 8 usable boundary samples."""
    a = alpha.astype(np.float32)
    if a.max() > 1.5:
        a = a / 255.0
    region = (a >= 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    if len(contour) < 16:
        return None
    # Even resampling by arc length.
    closed = np.vstack([contour, contour[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, arc[-1], samples, endpoint=False)
    pts = np.stack([np.interp(t, arc, closed[:, 0]), np.interp(t, arc, closed[:, 1])], axis=1)
    tangent = np.roll(pts, -3, axis=0) - np.roll(pts, 3, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    # Orient outward: alpha must be lower a step out than a step in (majority vote).
    probe_out = _bilinear(a, pts + step * normal)[:, 0]
    probe_in = _bilinear(a, pts - step * normal)[:, 0]
    if float(np.mean(probe_out < probe_in)) < 0.5:
        normal = -normal
    h, w = a.shape[:2]
    o, i1, i2 = pts + step * normal, pts - step * normal, pts - 3.0 * step * normal
    o2 = pts + 3.0 * step * normal
    ok = np.ones(len(pts), bool)
    for q in (o, o2, i1, i2):
        ok &= (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    ref_across = None
    if reference is not None:
        ref = _smoothed_lab(reference, step)
        r_across = np.linalg.norm(_bilinear(ref, o) - _bilinear(ref, i1), axis=1)
        ok &= r_across < natural_edge
    if ok.sum() < 8:
        return None
    if reference is not None:
        ref_across = float(r_across[ok].mean())
    lab = _smoothed_lab(image_bgr, step)
    lo, lo2, l1, l2 = (_bilinear(lab, q[ok]) for q in (o, o2, i1, i2))
    across = float(np.linalg.norm(lo - l1, axis=1).mean())
    inside = float(np.linalg.norm(l1 - l2, axis=1).mean())
    outside = float(np.linalg.norm(lo - lo2, axis=1).mean())
    return SeamContrast(across, inside, outside, across / max(inside, 1e-6), int(ok.sum()), ref_across)
