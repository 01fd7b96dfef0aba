"""Painted upper eyelids for one-photo targets: a closing eye shows lid skin, not a smear.

Warping an open-eyed portrait shut moves the upper lid line down onto the lower one, and the
triangles above it stretch the photo's lashes, crease and iris edge into a dark band across the
eye. A real closing lid is smooth skin that slides down over the eyeball and ends in a lash line.
This module paints that: for each eye, the region between where the upper lid line was in the
portrait (moved with the eye's corners, raised to cover the stretched lashes) and where it is
now is filled with the portrait's own skin from just above (reflected down, so texture and tone
continue), shaded darker towards the lid edge, with a soft dark lash line along that edge. It
fades in with the closure (the target's lid gap over the portrait's), so an open eye is left
exactly as warped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from latentcam.facekit.landmarks import (LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_LID_PAIRS, RIGHT_EYE_INNER,
                                         RIGHT_EYE_OUTER, RIGHT_LID_PAIRS)

SUPERSAMPLE = 4
CLOSURE_START, CLOSURE_FULL = 0.2, 0.6   # lid painting fades in over this closure range
RAISE = 0.9              # the old lid line is raised by this fraction of the portrait's eye
                         # height, covering the stretched lashes and crease above it
LASH_WIDTH = 0.045       # lash line thickness, fraction of the eye width
EDGE_SHADE = 0.85        # lid skin brightness at the lid edge (1.0 at the old lid line)
MIRROR = 0.5             # the skin above the old lid line is reflected down, compressed so
                         # the lid takes its texture from a band half its height
DEFAULT_LASH_BGR = (40, 45, 55)


def _arcs(outer: int, inner: int, pairs) -> tuple[list[int], list[int]]:
    """(upper, lower) lid lines of an eye, each from its outer corner to its inner one."""
    return [outer, *(u for u, _ in pairs), inner], [outer, *(low for _, low in pairs), inner]


_EYES = (_arcs(RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_LID_PAIRS),
         _arcs(LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_LID_PAIRS))


@dataclass(frozen=True)
class EyelidStyle:
    lash: tuple[float, float, float]   # BGR of the lash line


def _gap(points: np.ndarray, upper: list[int], lower: list[int]) -> float:
    """Mean distance between the upper and lower lid points facing each other (corners excluded)."""
    return float(np.linalg.norm(points[upper[1:-1], :2] - points[lower[1:-1], :2], axis=1).mean())


def eyelid_style_from_photo(image: np.ndarray, landmarks_px: np.ndarray) -> EyelidStyle:
    """The lash colour: the darkest pixels along the portrait's upper lid lines."""
    p = np.asarray(landmarks_px, np.float64)
    line = np.zeros(image.shape[:2], np.uint8)
    for upper, _ in _EYES:
        cv2.polylines(line, [np.round(p[upper, :2]).astype(np.int32)], False, 255, 2)
    px = image[line > 0].astype(np.float32)
    if len(px) < 5:
        return EyelidStyle(DEFAULT_LASH_BGR)
    dark = px[px.sum(axis=1) <= np.percentile(px.sum(axis=1), 30)]
    return EyelidStyle(tuple(map(float, np.median(dark, axis=0))))


def _similarity(src_a, src_b, dst_a, dst_b) -> np.ndarray:
    """2×3 similarity moving segment (src_a, src_b) onto (dst_a, dst_b)."""
    s, d = src_b - src_a, dst_b - dst_a
    scale = np.linalg.norm(d) / max(np.linalg.norm(s), 1e-6)
    angle = np.arctan2(d[1], d[0]) - np.arctan2(s[1], s[0])
    c, si = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[c, -si], [si, c]])
    return np.hstack([rot, (dst_a - rot @ src_a)[:, None]])


def paint_eyelids(frame: np.ndarray, photo_px: np.ndarray, target_px: np.ndarray,
                  style: EyelidStyle) -> None:
    """Paint closing upper lids into ``frame`` (the warped portrait, BGR uint8) in place."""
    photo = np.asarray(photo_px, np.float64)
    target = np.asarray(target_px, np.float64)
    h, w = frame.shape[:2]
    for upper, lower in _EYES:
        open_gap = _gap(photo, upper, lower)
        closure = 1.0 - _gap(target, upper, lower) / max(open_gap, 1e-6)
        strength = float(np.clip((closure - CLOSURE_START) / (CLOSURE_FULL - CLOSURE_START), 0.0, 1.0))
        if strength <= 0.0:
            continue
        corner_a, corner_b = upper[0], upper[-1]
        move = _similarity(photo[corner_a, :2], photo[corner_b, :2], target[corner_a, :2], target[corner_b, :2])
        old_lid = photo[upper, :2] @ move[:, :2].T + move[:, 2]
        width = float(np.linalg.norm(target[corner_a, :2] - target[corner_b, :2]))
        up = np.array([move[0, 1], move[1, 1]]) * -1.0     # the portrait's image "up", moved
        up = up / max(np.linalg.norm(up), 1e-6)
        old_lid = old_lid + RAISE * open_gap * (width / max(np.linalg.norm(
            photo[corner_a, :2] - photo[corner_b, :2]), 1e-6)) * up * _bulge(len(upper))[:, None]
        new_lid = target[upper, :2]
        poly = np.vstack([old_lid, new_lid[::-1]])
        x0, y0 = np.floor(poly.min(axis=0) - 3).astype(int)
        x1, y1 = np.ceil(poly.max(axis=0) + 4).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        k = SUPERSAMPLE
        origin = np.array([x0, y0], np.float64)
        local = lambda pts: np.round((pts - origin) * k * 16).astype(np.int32)  # noqa: E731
        hh, ww = (y1 - y0) * k, (x1 - x0) * k
        lid_mask = np.zeros((hh, ww), np.uint8)
        cv2.fillPoly(lid_mask, [local(poly)], 255, cv2.LINE_AA, shift=4)
        # Skin: the portrait's own lid skin just above the old lid line, reflected down over the
        # lid (compressed by MIRROR), so texture and tone continue across the top edge; shaded
        # towards EDGE_SHADE at the new lid line; a lash line along it.
        yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
        pix = np.stack([xx / k + x0, yy / k + y0], axis=-1)
        height = pix @ up
        edge_y, top_y = _project(new_lid, up), _project(old_lid, up)
        below_top = np.clip(top_y - height, 0.0, None)
        src = pix + ((1.0 + MIRROR) * below_top)[..., None] * up
        layer = cv2.remap(frame, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        t = np.clip((height - edge_y) / max(top_y - edge_y, 1e-3), 0.0, 1.0)
        layer *= (EDGE_SHADE + (1.0 - EDGE_SHADE) * np.sqrt(t))[..., None]
        lash = np.zeros((hh, ww), np.uint8)
        cv2.polylines(lash, [local(new_lid)], False, 255, max(1, int(round(LASH_WIDTH * width * k))),
                      cv2.LINE_AA, shift=4)
        la = (lash.astype(np.float32) / 255.0)[..., None] * 0.85
        layer = layer * (1 - la) + np.array(style.lash, np.float32)[None, None] * la
        alpha = np.maximum(lid_mask.astype(np.float32) / 255.0, la[..., 0])
        layer = cv2.resize(layer, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.4, width / 60.0))[..., None] * strength
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + layer * alpha, 0, 255).astype(np.uint8)


def _bulge(n: int) -> np.ndarray:
    """Raise profile along a lid from corner to corner: 0 at the corners, 1 in the middle."""
    s = np.linspace(0.0, 1.0, n)
    return np.sin(np.pi * s) ** 0.7


def _project(points: np.ndarray, direction: np.ndarray) -> float:
    """Mean coordinate of ``points`` along ``direction`` (a lid line's height on the face)."""
    return float((points @ direction).mean())
