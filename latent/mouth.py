"""A synthesised mouth interior for one-photo targets: oral cavity, teeth rows and tongue.

Warping a closed-mouth (or slightly open) portrait to an open mouth stretches the lips apart
and leaves a hole inside the inner-lip polygon. This module paints what belongs there, built
from anatomy rather than fixed pixel offsets:

* the **upper teeth** hang from the upper lip's inner line (roots hidden behind the lip, so a
  rising lip uncovers more crown), full width, crowns shortening along the dental arch;
* the **lower teeth** ride on the mandible just behind the lower lip: a narrower arch whose
  edge stands a little above the lower lip's inner line, so they show as the jaw drops;
* the **tongue** lies behind the lower teeth; the **cavity** is dark, darkest in its depth
  and lit near the lips; the upper lip casts a shadow on the teeth.

All of it is clipped to the target's inner-lip polygon, so the lips decide how much shows.
Sizes are fractions of the mouth width (outer corners), from typical adult proportions.
Colours come from the photo (teeth if they show, lip tone for cavity and tongue).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from latentcam.facekit.landmarks import LIPS_INNER, LIPS_OUTER, MOUTH_LEFT, MOUTH_RIGHT

# Inner-lip loop split into its upper and lower halves, each from the subject's right corner
# (78, image left) to the left corner (308, image right).
INNER_RIGHT_CORNER, INNER_LEFT_CORNER = 78, 308
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)

# Proportions relative to the mouth width W (outer lip corners).
UPPER_TEETH_HEIGHT = 0.20      # visible crown height of the central upper incisors
LOWER_TEETH_HEIGHT = 0.15
TEETH_ARCH_DROP = 0.45         # crowns shorten towards the corners: h(t) = H (1 - drop t²)
HIDDEN_CROWN = 0.12           # crown height above the upper lip line, shown when the lip rises
LOWER_TEETH_SHOW = 0.06        # lower incisor edge above the lower lip's inner line
LOWER_ARCH_HALF_WIDTH = 0.3    # lower front teeth span ±this (in W) about the midline
TONGUE_DEPTH = -0.03           # tongue top relative to the lower teeth edge (negative: above)
TONGUE_SIZE = (0.34, 0.16)     # tongue half-axes (across, up/down)
# Tooth boundaries from the midline, in W: central, lateral incisors, canine, premolars.
TOOTH_EDGES = (0.0, 0.105, 0.19, 0.265, 0.33, 0.39)
SUPERSAMPLE = 4                # the layer is drawn this much larger and downsampled (antialias)
DEFAULT_TEETH_BGR = (196, 214, 226)


@dataclass(frozen=True)
class MouthStyle:
    teeth: tuple[float, float, float]    # BGR of lit teeth
    cavity: tuple[float, float, float]   # BGR of the dark oral cavity
    tongue: tuple[float, float, float]   # BGR of the tongue
    upper_teeth_height: float = 0.20     # visible upper crown height, fraction of mouth width


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon[:, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask


def mouth_style_from_photo(image: np.ndarray, landmarks_px: np.ndarray) -> MouthStyle:
    """Colours for the mouth interior taken from the portrait itself."""
    h, w = image.shape[:2]
    lips_mask = _polygon_mask((h, w), landmarks_px[list(LIPS_OUTER)])
    inner_mask = _polygon_mask((h, w), landmarks_px[list(LIPS_INNER)])
    lip_pixels = image[(lips_mask > 200) & (inner_mask < 50)].astype(np.float32)
    lip = np.median(lip_pixels, axis=0) if len(lip_pixels) > 10 else np.array([90, 100, 170], np.float32)
    inside = image[inner_mask > 200].astype(np.float32)
    teeth = np.array(DEFAULT_TEETH_BGR, np.float32)
    teeth_height = UPPER_TEETH_HEIGHT
    if len(inside) > 20:
        value = inside.max(axis=1)
        sat = value - inside.min(axis=1)
        bright = inside[(value >= np.percentile(value, 70)) & (sat < 0.45 * np.maximum(value, 1))]
        if len(bright) > 5 and np.median(bright.max(axis=1)) > 120:
            teeth = np.median(bright, axis=0)   # the photo shows its teeth: use their colour
            # ... and at least the height it shows them at, so the portrait reproduces itself.
            width = float(np.linalg.norm(landmarks_px[MOUTH_LEFT, :2] - landmarks_px[MOUTH_RIGHT, :2]))
            opening = float(np.linalg.norm(landmarks_px[14, :2] - landmarks_px[13, :2]))
            teeth_height = float(np.clip(opening / max(width, 1e-6) * 1.1, UPPER_TEETH_HEIGHT, 0.32))
    cavity = lip * np.array([0.22, 0.18, 0.32], np.float32)
    tongue = lip * np.array([0.80, 0.72, 0.92], np.float32) + np.array([12, 10, 8], np.float32)
    return MouthStyle(tuple(map(float, teeth)), tuple(map(float, cavity)), tuple(map(float, tongue)),
                      teeth_height)


def _teeth_band(edge: np.ndarray, axis_u: np.ndarray, down: np.ndarray, centre: np.ndarray,
                half_width: float, height: float) -> np.ndarray:
    """Polygon of a teeth row: the ``edge`` curve, then the edge shifted ``down`` by the crown
    height, which shortens towards the corners along the dental arch."""
    t = ((edge - centre) @ axis_u) / max(half_width, 1e-6)
    crown = height * np.clip(1.0 - TEETH_ARCH_DROP * t ** 2, 0.2, 1.0)
    other = edge + crown[:, None] * down
    return np.vstack([edge, other[::-1]])


def render_mouth(shape: tuple[int, int], target_px: np.ndarray, style: MouthStyle) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Paint the mouth interior for a warped frame.

    shape: (H, W) of the frame; target_px: (478, 2+) landmarks of the frame being synthesised.
    Returns (layer BGR float32 h×w, alpha float32 h×w in 0..1, (x0, y0)) for a region of the
    frame with top-left corner (x0, y0); alpha is the antialiased inner-lip polygon.
    """
    tgt = np.asarray(target_px, np.float64)[:, :2]
    inner = tgt[list(LIPS_INNER)]
    width = float(np.linalg.norm(tgt[MOUTH_LEFT] - tgt[MOUTH_RIGHT]))
    u = tgt[INNER_LEFT_CORNER] - tgt[INNER_RIGHT_CORNER]
    u = u / max(np.linalg.norm(u), 1e-6)
    down = np.array([-u[1], u[0]])
    if down[1] < 0:
        down = -down
    centre = (tgt[INNER_LEFT_CORNER] + tgt[INNER_RIGHT_CORNER]) / 2.0
    half = width / 2.0

    # Upper teeth hang from the upper lip's inner line (their roots hidden behind it), across
    # the whole opening; crowns shorten towards the corners along the dental arch.
    samples = np.linspace(-1.05, 1.05, 17) * half
    upper_edge = _curve_at(tgt[list(UPPER_INNER)], u, centre, samples)
    tips_poly = _teeth_band(upper_edge, u, down, centre, half, style.upper_teeth_height * width)
    upper_tips = tips_poly[len(samples):][::-1]
    hidden_top = upper_edge - HIDDEN_CROWN * width * down
    upper_poly = np.vstack([hidden_top, upper_tips[::-1]])
    # Lower teeth ride on the mandible just behind the lower lip: a narrower arch whose edge
    # stands LOWER_TEETH_SHOW above the lip's inner line, so they show as the jaw drops.
    lower_across = np.linspace(-LOWER_ARCH_HALF_WIDTH, LOWER_ARCH_HALF_WIDTH, 13) * width
    lower_top = (_curve_at(tgt[list(LOWER_INNER)], u, centre, lower_across)
                 - LOWER_TEETH_SHOW * width * down)
    lower_poly = _teeth_band(lower_top, u, down, centre, LOWER_ARCH_HALF_WIDTH * width,
                             LOWER_TEETH_HEIGHT * width)
    lower_mid = float(np.mean(lower_top @ down))
    tongue_centre = centre + (lower_mid - centre @ down + (TONGUE_DEPTH + TONGUE_SIZE[1]) * width) * down
    x0 = int(np.floor(inner[:, 0].min())) - 2
    y0 = int(np.floor(inner[:, 1].min())) - 2
    x1 = int(np.ceil(inner[:, 0].max())) + 3
    y1 = int(np.ceil(inner[:, 1].max())) + 3
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32), (0, 0)
    k = SUPERSAMPLE
    hh, ww = (y1 - y0) * k, (x1 - x0) * k
    origin = np.array([x0, y0], np.float64)

    def local(p: np.ndarray) -> np.ndarray:
        return np.round((p - origin) * k * 16).astype(np.int32)

    inner_mask = np.zeros((hh, ww), np.uint8)
    cv2.fillPoly(inner_mask, [local(inner)], 255, cv2.LINE_AA, shift=4)
    # Cavity: dark, lit near the lips, darkest in the depth.
    depth = cv2.distanceTransform((inner_mask > 127).astype(np.uint8), cv2.DIST_L2, 3) / (k * width)
    shade = 0.55 + 0.9 * np.exp(-depth / 0.05)
    layer = np.empty((hh, ww, 3), np.float32)
    layer[:] = np.array(style.cavity, np.float32)
    layer *= shade[..., None]
    # Tongue (behind the lower teeth), shaded darker at its back edge.
    tongue = np.zeros((hh, ww), np.uint8)
    axes = (int(TONGUE_SIZE[0] * width * k), int(TONGUE_SIZE[1] * width * k))
    angle = float(np.degrees(np.arctan2(u[1], u[0])))
    c = (tongue_centre - origin) * k
    cv2.ellipse(tongue, (int(c[0]), int(c[1])), axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    along_down = ((xx - c[0]) * down[0] + (yy - c[1]) * down[1]) / max(axes[1], 1)
    tongue_shade = np.clip(0.75 + 0.35 * along_down, 0.45, 1.05)
    tongue_rgb = np.array(style.tongue, np.float32)[None, None] * tongue_shade[..., None]
    a = (tongue.astype(np.float32) / 255.0)[..., None]
    layer = layer * (1 - a) + tongue_rgb * a
    # Teeth: lower row, then upper row in front; shaded darker towards the corners.
    across = ((xx / k + x0 - centre[0]) * u[0] + (yy / k + y0 - centre[1]) * u[1]) / max(half, 1e-6)
    corner_shade = np.clip(1.0 - 0.55 * across ** 2, 0.35, 1.0)
    teeth_rgb = np.array(style.teeth, np.float32)
    for poly, dim in ((lower_poly, 0.85), (upper_poly, 1.0)):
        m = np.zeros((hh, ww), np.uint8)
        cv2.fillPoly(m, [local(poly)], 255, cv2.LINE_AA, shift=4)
        a = (m.astype(np.float32) / 255.0)[..., None]
        layer = layer * (1 - a) + (teeth_rgb * dim * corner_shade[..., None]) * a
    # Gaps between teeth: thin darker lines across each row at the tooth boundaries.
    thickness = max(1, int(round(width * k / 120)))
    gap_mask = np.zeros((hh, ww), np.uint8)
    for edge_pts, height in ((hidden_top, style.upper_teeth_height + HIDDEN_CROWN),
                             (lower_top, LOWER_TEETH_HEIGHT)):
        t_edge = (edge_pts - centre) @ u
        order = np.argsort(t_edge)
        for e in TOOTH_EDGES:
            for side in ((1,) if e == 0.0 else (-1, 1)):
                s_pos = side * e * width
                start = np.array([np.interp(s_pos, t_edge[order], edge_pts[order, 0]),
                                  np.interp(s_pos, t_edge[order], edge_pts[order, 1])])
                crown = height * width * max(0.2, 1 - TEETH_ARCH_DROP * (2 * e) ** 2)
                p0 = local(start[None])[0]
                p1 = local((start + crown * down)[None])[0]
                cv2.line(gap_mask, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), 255,
                         thickness, cv2.LINE_AA, shift=4)
    teeth_any = np.zeros((hh, ww), np.uint8)
    cv2.fillPoly(teeth_any, [local(upper_poly)], 255, cv2.LINE_AA, shift=4)
    cv2.fillPoly(teeth_any, [local(lower_poly)], 255, cv2.LINE_AA, shift=4)
    g = (gap_mask.astype(np.float32) / 255.0 * 0.4 * teeth_any.astype(np.float32) / 255.0)[..., None]
    layer = layer * (1 - g) + (teeth_rgb * 0.6)[None, None] * g
    # The upper lip's shadow on whatever lies just below it.
    edge_x, edge_y = _sorted_xy(tgt[list(UPPER_INNER)])
    below = ((yy / k + y0) - np.interp(xx / k + x0, edge_x, edge_y)) / width
    shadow = np.exp(-np.clip(below, 0, None) / 0.06)
    layer *= (1.0 - 0.35 * shadow)[..., None]
    # Downsample (antialias) and soften to the photo's sharpness.
    layer = cv2.resize(layer, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(inner_mask.astype(np.float32) / 255.0, (x1 - x0, y1 - y0),
                       interpolation=cv2.INTER_AREA)
    sigma = max(0.3, width / 160.0)
    layer = cv2.GaussianBlur(layer, (0, 0), sigma)
    return layer, alpha, (x0, y0)


def _curve_at(curve: np.ndarray, u: np.ndarray, centre: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Points of a lip curve at the given signed distances ``across`` the mouth axis ``u``
    (linear extrapolation beyond the corners keeps the row's slope)."""
    t = (curve - centre) @ u
    order = np.argsort(t)
    t, c = t[order], curve[order]
    x = np.interp(across, t, c[:, 0])
    y = np.interp(across, t, c[:, 1])
    return np.stack([x, y], axis=1)


def _sorted_xy(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(curve[:, 0])
    return curve[order, 0], curve[order, 1]
