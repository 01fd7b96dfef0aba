"""Putting the rendered face crop into the output frame.

Two modes:

* ``portrait`` — the target's face on the bundle's background plate. The crop goes where the
  plate's own face is (the plate's alignment matrix), moved and scaled like the driver's head
  relative to its reference position, and the result is scaled to the output size.
* ``paste`` — the rendered face blended into the driver's own frame at the driver's face, using
  the inverse of ``facekit.geometry.alignment_matrix``. The mask is the driver's face
  (``facemask.face_polygon``: landmark oval, forehead cut above the brows, feathered) times the
  decoder's alpha, so the target's hair and fringe never come along; the render's colour and
  brightness are matched to the driver's skin by a Lab mean/std transfer (``colour``) measured on
  a ring of skin inside the face, smoothed over frames.

In portrait mode the plate's own face (the photo's) is painted out of the plate once, on the
first frame (``facemask.fill_region``), except what the render does not cover at rest (its jaw
line, the edge of a cheek), and the plate around the face moves with the head like a rubber
sheet — so when the rendered head moves or turns no second jaw line or cheek stays where the
photo's face was.

``CompositeOptions.legacy`` keeps the compositing before issue #11 (decoder-alpha mask in paste
mode, a mean shift in BGR for colour, the plate as it is) selectable, so a benchmark can compare
both in one run (``benchmarks/realtime/seams.py``).

Speed: the output background is prepared once (portrait) or resized once per frame (paste);
the crop is warped only into the bounding box it covers, and blending runs in OpenCV
(``cv2.blendLinear``) on that box, not over the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from latentcam.facekit import landmarks as lm
from latentcam.facekit.geometry import alignment_matrix, invert_affine, transform_points

from .colour import LabStats, LabTransfer
from .facemask import (face_polygon, fill_region, polygon_mask, scaled_about_centre,
                       template_face_oval)



class CompositeMode(str, Enum):
    """How the render meets the picture. A ``str`` enum: settings, config files and the preview
    toggle carry the plain values, which compare equal to the members."""

    PORTRAIT = "portrait"    # the target's own background plate behind the render
    PASTE = "paste"          # the render pasted into the driver's own frame


MODES = tuple(m.value for m in CompositeMode)
_EYE_CORNERS = [lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER, lm.LEFT_EYE_INNER, lm.LEFT_EYE_OUTER]
_EDGE_MARGIN = np.ones((5, 5), np.uint8)   # erosion by 2 px (on the 64² statistics images)


@dataclass(frozen=True)
class CompositeOptions:
    mode: str = CompositeMode.PORTRAIT.value   # a CompositeMode value
    follow: float = 1.0             # portrait: how much of the driver's head motion to follow (0..1)
    max_shift: float = 0.25         # portrait: largest head shift, as a fraction of the crop size
    scale_range: tuple[float, float] = (0.75, 1.35)  # portrait: allowed head-size change
    feather_px: int = 9             # blur of the mask edge, in crop pixels
    erode_px: int = 4               # shrink the decoder's alpha before feathering (hides the seam)
    colour_match: bool = True       # paste: match the render's colour to the driver's skin
    colour_smoothing: float = 0.8   # paste: EMA factor of the colour statistics (0 = none)
    edge_fade: float = 0.06         # fade the alpha to 0 over this fraction of the crop border
    forehead: float = 0.3           # paste: mask top, in interocular distances above the eye line
    brow_margin: float = 0.05       # paste: ... or this far above the driver's brows, if higher
    mask_inset: float = 0.9         # paste: face-oval mask scaled by this about its centre
    skin_edge: bool = True          # paste: near the face's edge, cover only what looks like skin
    plate_fill: bool = True         # portrait: paint the photo's own face out of the plate at load
    plate_fill_scale: float = 1.1   # portrait: size of the painted region × the template face oval
    legacy: bool = False            # the compositing before issue #11 (kept for comparisons)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"composite.mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if not 0.0 <= self.follow <= 1.0:
            raise ValueError(f"composite.follow must be in [0, 1]; got {self.follow}")
        if not 0.0 <= self.colour_smoothing < 1.0:
            raise ValueError(f"composite.colour_smoothing must be in [0, 1); got {self.colour_smoothing}")
        lo, hi = self.scale_range
        if not 0 < lo <= 1.0 <= hi:
            raise ValueError(f"composite.scale_range must satisfy 0 < lo <= 1 <= hi; got {self.scale_range}")
        if not 0.0 <= self.edge_fade < 0.5:
            raise ValueError(f"composite.edge_fade must be in [0, 0.5); got {self.edge_fade}")
        if self.feather_px < 0 or self.erode_px < 0:
            raise ValueError("composite.feather_px and composite.erode_px must be >= 0")
        if not 0.0 <= self.forehead <= 2.0:
            raise ValueError(f"composite.forehead must be in [0, 2]; got {self.forehead}")
        if not 0.0 <= self.brow_margin <= 1.0:
            raise ValueError(f"composite.brow_margin must be in [0, 1]; got {self.brow_margin}")
        if not 0.5 <= self.mask_inset <= 1.2:
            raise ValueError(f"composite.mask_inset must be in [0.5, 1.2]; got {self.mask_inset}")
        if not 0.5 <= self.plate_fill_scale <= 2.0:
            raise ValueError(f"composite.plate_fill_scale must be in [0.5, 2]; got {self.plate_fill_scale}")


def cover_transform(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, float, float]:
    """Scale and offset (s, dx, dy) that fill dst with src, keeping aspect (centre crop)."""
    s = max(dst_w / src_w, dst_h / src_h)
    return s, (dst_w - src_w * s) / 2.0, (dst_h - src_h * s) / 2.0


def cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``image`` to fill width×height, cropping the overflow (no distortion)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image.copy()
    s = max(width / w, height / h)
    cw, ch = min(w, int(round(width / s))), min(h, int(round(height / s)))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(image[y0:y0 + ch, x0:x0 + cw], (width, height), interpolation=interp)


def cover_matrix(src_w: int, src_h: int, dst_w: int, dst_h: int) -> np.ndarray:
    """The 2×3 affine of ``cover_resize`` (source pixel → destination pixel)."""
    s = max(dst_w / src_w, dst_h / src_h)
    cw, ch = min(src_w, int(round(dst_w / s))), min(src_h, int(round(dst_h / s)))
    x0, y0 = (src_w - cw) // 2, (src_h - ch) // 2
    sx, sy = dst_w / cw, dst_h / ch
    return np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])


def cover_matrix_at(src_w: int, src_h: int, dst_w: int, dst_h: int,
                    centre: np.ndarray) -> np.ndarray:
    """Like ``cover_matrix`` but the kept window is centred on ``centre`` (source pixels),
    clamped so it stays inside the source."""
    s = max(dst_w / src_w, dst_h / src_h)
    cw, ch = dst_w / s, dst_h / s
    x0 = float(np.clip(centre[0] - cw / 2.0, 0.0, max(0.0, src_w - cw)))
    y0 = float(np.clip(centre[1] - ch / 2.0, 0.0, max(0.0, src_h - ch)))
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2×3 affines: ``compose(a, b)`` applies b first, then a."""
    a3 = np.vstack([a, [0.0, 0.0, 1.0]])
    b3 = np.vstack([b, [0.0, 0.0, 1.0]])
    return (a3 @ b3)[:2]


def blend_crop(dst: np.ndarray, crop_bgra: np.ndarray, matrix: np.ndarray) -> None:
    """Warp a BGRA crop with ``matrix`` (crop → dst) and alpha-blend it into BGR ``dst`` in
    place, touching only the bounding box the crop covers.

    One 4-channel warp with a constant (transparent) border is ~3x faster in OpenCV than warping
    a 3-channel image with a replicated border; the blend is integer arithmetic in OpenCV.
    """
    s = crop_bgra.shape[0]
    corners = np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float64)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    h, w = dst.shape[:2]
    x0 = int(max(0, np.floor(mapped[:, 0].min())))
    y0 = int(max(0, np.floor(mapped[:, 1].min())))
    x1 = int(min(w, np.ceil(mapped[:, 0].max()) + 1))
    y1 = int(min(h, np.ceil(mapped[:, 1].max()) + 1))
    if x1 <= x0 or y1 <= y0:
        return
    local = matrix.copy()
    local[0, 2] -= x0
    local[1, 2] -= y0
    warped = cv2.warpAffine(crop_bgra, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    fg = cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR)
    a = warped[:, :, 3]
    a3 = cv2.merge((a, a, a))
    roi = dst[y0:y1, x0:x1]
    front = cv2.multiply(fg, a3, scale=1.0 / 255.0)
    back = cv2.multiply(roi, cv2.bitwise_not(a3), scale=1.0 / 255.0)
    cv2.add(front, back, dst=roi)


class Compositor:
    """Builds output frames from rendered BGRA crops. ``mode`` can be switched live."""

    def __init__(self, options: CompositeOptions, crop_size: int, output_size: tuple[int, int],
                 plate: np.ndarray | None = None, plate_to_crop: np.ndarray | None = None):
        options.validate()
        has_plate = plate is not None
        self.options = options
        self.mode = options.mode
        self.crop_size = crop_size
        self.width, self.height = output_size
        if plate is None:
            # No plate in the bundle: a neutral grey studio backdrop with the crop centred.
            plate = np.full((crop_size * 2, crop_size * 2, 3), 96, np.uint8)
            plate_to_crop = np.array([[1.0, 0.0, -crop_size / 2], [0.0, 1.0, -crop_size / 2]])
        elif plate_to_crop is None:
            raise ValueError("a background plate needs its alignment matrix (plate → crop) to "
                             "place the face; the target bundle's manifest lacks it")
        ph, pw = plate.shape[:2]
        crop_to_plate = invert_affine(np.asarray(plate_to_crop, np.float64))
        # Fill the output with the plate, keeping the target's face in view: the window is
        # centred on the face (not on the plate), clamped to the plate's edges.
        centre = crop_to_plate[:, :2] @ np.array([crop_size / 2.0, crop_size / 2.0]) + crop_to_plate[:, 2]
        plate_to_out = cover_matrix_at(pw, ph, self.width, self.height, centre)
        self._plate_out = cv2.warpAffine(plate, plate_to_out, (self.width, self.height),
                                         flags=cv2.INTER_AREA if plate_to_out[0, 0] < 1 else cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE)
        # crop → plate → output, before following the driver's head.
        self._crop_to_out = compose(plate_to_out, crop_to_plate)
        # The photo's own face is painted out of the plate on the first portrait frame, where
        # the render at rest covers it (see ``_fill_plate``).
        self._plate_pending = has_plate and options.plate_fill and not options.legacy
        self._photo_out = self._plate_out            # the plate as it is (``plate()``)
        self._sheet = None                            # rubber-sheet motion (see ``_fill_plate``)
        self._reference: np.ndarray | None = None   # driver's alignment at the reference pose
        self._colour_shift = np.zeros(3, np.float32)
        self._colour = LabTransfer(options.colour_smoothing)
        self._window: np.ndarray | None = None
        # The last blend (crop-space alpha, crop → output matrix), for seam measurements.
        self.last_alpha: np.ndarray | None = None
        self.last_matrix: np.ndarray | None = None

    # --- reference pose ----------------------------------------------------------------------
    def set_reference(self, landmarks_px: np.ndarray | None) -> None:
        """The driver's head position that maps to the plate's own face position."""
        self._reference = None if landmarks_px is None else alignment_matrix(landmarks_px, self.crop_size)

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    def head_motion(self, landmarks_px: np.ndarray) -> np.ndarray:
        """2×3 crop-space similarity (scale + shift, rotation removed) from the reference pose
        to the driver's current head position; sets the reference on first use."""
        current = alignment_matrix(landmarks_px, self.crop_size)
        if self._reference is None:
            self._reference = current
        rel = compose(self._reference, invert_affine(current))  # current crop → reference crop
        o = self.options
        scale = float(np.sqrt(abs(np.linalg.det(rel[:, :2]))))
        scale = float(np.clip(1.0 + o.follow * (scale - 1.0), *o.scale_range))
        centre = np.array([self.crop_size / 2.0, self.crop_size / 2.0])
        moved = rel[:, :2] @ centre + rel[:, 2]
        shift = np.clip(o.follow * (moved - centre), -o.max_shift * self.crop_size,
                        o.max_shift * self.crop_size)
        # Scale about the crop centre, then shift.
        t = centre + shift - scale * centre
        return np.array([[scale, 0.0, t[0]], [0.0, scale, t[1]]])

    # --- compositing -------------------------------------------------------------------------
    @property
    def awaits_rest_render(self) -> bool:
        """Portrait plate fill still pending: it needs one render of the face at rest."""
        return self._plate_pending

    def prepare(self, rest_crop_bgra: np.ndarray) -> None:
        """Fill the plate from a render of the target's neutral face before the first frame,
        so the one-off fill (``_fill_plate``) does not land in a live frame's time. Without this
        call the first portrait frame does it."""
        if self._plate_pending:
            self._fill_plate(self._edge_faded(self._checked(rest_crop_bgra))[:, :, 3])

    def portrait(self, crop_bgra: np.ndarray, motion: np.ndarray | None = None) -> np.ndarray:
        m = self._crop_to_out if motion is None else compose(self._crop_to_out, motion)
        crop = self._edge_faded(self._checked(crop_bgra))
        if self._plate_pending:
            self._fill_plate(crop[:, :, 3])
        out = self.backdrop(motion)
        self._blend(out, crop, m)
        return out

    def backdrop(self, motion: np.ndarray | None = None) -> np.ndarray:
        """Portrait: the output without the render. Before issue #11 (``legacy``) the plate as
        it is; after it, the plate with the photo's face taken off and its surroundings moved
        with the head (see ``_fill_plate``)."""
        if self._sheet is None:
            return self._plate_out.copy()
        out = self._plate_out.copy()
        if motion is None:
            return out
        # The head's motion in output pixels: crop → out ∘ motion ∘ out → crop.
        t = compose(compose(self._crop_to_out, motion), invert_affine(self._crop_to_out)).astype(np.float32)
        (x0, y0, x1, y1), gx, gy, (ws, sx, sy), corners, levels = self._sheet
        # Largest displacement (at the region's corners, where the weight is 1): below a
        # quarter pixel nothing visibly moves; otherwise only where weight × that exceeds a
        # quarter pixel is remapped (nested boxes precomputed per weight level).
        moved = corners @ t[:, :2].T + t[:, 2] - corners
        most = float(np.sqrt((moved ** 2).sum(axis=1)).max())
        if most < 0.25:
            return out
        bx0, by0, bx1, by1 = next((box for level, box in levels if level * most <= 0.25), levels[-1][1])
        # The displacement is smooth: computed on a 1/4-size grid, scaled up, then added to
        # the full-size identity map (one remap of the face's surroundings).
        dx = ws * ((t[0, 0] - 1.0) * sx + t[0, 1] * sy + t[0, 2])
        dy = ws * (t[1, 0] * sx + (t[1, 1] - 1.0) * sy + t[1, 2])
        size = (x1 - x0, y1 - y0)
        sub = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))
        map_x = cv2.subtract(gx[sub], cv2.resize(dx, size, interpolation=cv2.INTER_LINEAR)[sub])
        map_y = cv2.subtract(gy[sub], cv2.resize(dy, size, interpolation=cv2.INTER_LINEAR)[sub])
        out[by0:by1, bx0:bx1] = cv2.remap(self._plate_out, map_x, map_y, cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE)
        return out

    def _fill_plate(self, rest_alpha: np.ndarray) -> None:
        """Take the photo's face off the plate, once (``prepare`` before the first frame, else on the first frame), so that a
        moving or turning head never leaves the photo's own jaw line or cheek behind.

        1. The region — the template face oval × ``plate_fill_scale`` through the plate's
           alignment — is painted over with what lies beside it (``fill_region``).
        2. What of the photo in it the render at rest does not fully cover (alpha < 0.9: the
           jaw line, the edge of a cheek) is put back on top, so at rest the output is as
           before. Under the render there is now only the fill: when the rendered face turns
           and narrows, the fill shows, not the photo's wider frontal face.
        3. Each frame the plate around the face is moved with the head like a rubber sheet
           (``backdrop``): fully inside the region, fading out over about a third of a face
           outside it — the photo's face edges, hair and collar follow the rendered head
           without a hole or a second outline where they were. One remap of the face's
           surroundings per frame (measured in ``benchmarks/realtime/seams.md``).
        """
        self._plate_pending = False
        s = self.crop_size
        region = scaled_about_centre(template_face_oval(s), self.options.plate_fill_scale)
        region_out = transform_points(region, self._crop_to_out)[:, :2]
        oval_out = polygon_mask(region_out, (self.width, self.height))
        photo = cv2.warpAffine(self._plate_out, invert_affine(self._crop_to_out), (s, s),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        filled = fill_region(self._plate_out, oval_out, feather_px=1.5)
        oval = cv2.GaussianBlur(polygon_mask(region, (s, s)), (5, 5), 0)
        full = cv2.erode(cv2.threshold(rest_alpha, 229, 255, cv2.THRESH_BINARY)[1], np.ones((3, 3), np.uint8))
        uncovered = cv2.GaussianBlur(cv2.bitwise_not(full), (5, 5), 0)
        layer = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
        layer[:, :, 3] = cv2.multiply(oval, uncovered, scale=1.0 / 255.0)
        blend_crop(filled, layer, self._crop_to_out)
        self._plate_out = filled
        # Rubber-sheet weight: 1 in the region, Gaussian fall-off outside it (sigma 0.15 of its
        # size: the hair and collar around the face stretch over about a third of a face).
        size = float(np.ptp(region_out, axis=0).max())
        sigma = max(1.0, 0.15 * size)
        w = np.clip(2.0 * cv2.GaussianBlur(oval_out.astype(np.float32) / 255.0, (0, 0), sigma), 0.0, 1.0)
        w[w < 0.01] = 0.0
        ys, xs = np.nonzero(w)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        small = (max(2, (x1 - x0) // 4), max(2, (y1 - y0) // 4))
        ws = cv2.resize(w[y0:y1, x0:x1], small, interpolation=cv2.INTER_AREA)
        sx = cv2.resize(gx, small, interpolation=cv2.INTER_AREA)
        sy = cv2.resize(gy, small, interpolation=cv2.INTER_AREA)
        # Nested boxes where the weight exceeds each level (largest level first; the last is
        # the whole box), and the region's bounding-box corners (weight 1 there).
        levels = []
        for level in (0.3, 0.1, 0.03):
            yy, xx = np.nonzero(w >= level)
            levels.append((level, (int(xx.min()), int(yy.min()), int(xx.max()) + 1, int(yy.max()) + 1)))
        levels.append((0.0, (x0, y0, x1, y1)))
        lo, hi = region_out.min(axis=0), region_out.max(axis=0)
        corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]], np.float32)
        self._sheet = ((x0, y0, x1, y1), gx, gy, (ws, sx, sy), corners, levels)

    def paste(self, crop_bgra: np.ndarray, frame_bgr: np.ndarray,
              landmarks_px: np.ndarray) -> np.ndarray:
        fh, fw = frame_bgr.shape[:2]
        frame_to_out = cover_matrix(fw, fh, self.width, self.height)
        out = cover_resize(frame_bgr, self.width, self.height)
        to_crop = alignment_matrix(landmarks_px, self.crop_size)
        m = compose(frame_to_out, invert_affine(to_crop))
        crop = self._checked(crop_bgra)
        if self.options.legacy:
            crop = self._feathered(crop)
            if self.options.colour_match:
                self._match_colour(crop, frame_bgr, to_crop)
        else:
            crop = self._face_crop(crop, frame_bgr, to_crop, landmarks_px)
        self._blend(out, crop, m)
        return out

    def _face_crop(self, crop_bgra: np.ndarray, frame_bgr: np.ndarray, to_crop: np.ndarray,
                   landmarks_px: np.ndarray) -> np.ndarray:
        """Paste mode: the BGRA crop to blend — colour matched to the driver's skin, alpha
        limited to the driver's face (polygon) and, near its edge, to what looks like the
        driver's skin (hair falling over a cheek stays the driver's).

        The statistics come from a skin ring in crop space — the face polygon scaled to 0.9
        minus the polygon scaled to 0.5, below the eye line (cheeks, jaw sides, chin: skin in
        the driver and in the render alike, no eyes, brows, fringe or lips; ``LabStats.of``
        trims what is left of hair and shadow) — on 64² images.
        """
        o = self.options
        polygon = face_polygon(transform_points(landmarks_px, to_crop), o.forehead, o.brow_margin,
                               o.mask_inset)
        small = 64
        k = small / self.crop_size
        driver = cv2.warpAffine(frame_bgr, to_crop * k, (small, small), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        ring = cv2.subtract(polygon_mask(scaled_about_centre(polygon, 0.9), (small, small), k),
                            polygon_mask(scaled_about_centre(polygon, 0.5), (small, small), k))
        eye_row = int(np.ceil(float(transform_points(landmarks_px[_EYE_CORNERS], to_crop)[:, 1].max()) * k))
        ring[: eye_row + 1] = 0
        ring = cv2.threshold(ring, 127, 255, cv2.THRESH_BINARY)[1]
        if o.colour_match:
            render = cv2.resize(crop_bgra, (small, small), interpolation=cv2.INTER_AREA)
            # The render's statistics only where it is opaque and 2 small pixels (1/32 of the
            # crop) inside its silhouette: the band along the alpha edge holds the target's
            # hairline and jaw shadow, which biased the matched face brighter (+2 L on the
            # Wolfgang clip; benchmarks/realtime/seams.md).
            opaque = cv2.erode((render[:, :, 3] > 250).astype(np.uint8) * 255, _EDGE_MARGIN)
            render_ring = cv2.bitwise_and(ring, opaque)
            self._colour.update(render, render_ring, driver, ring)
            colour = self._colour.apply(crop_bgra)
        else:
            colour = cv2.cvtColor(crop_bgra, cv2.COLOR_BGRA2BGR)
        alpha = self._face_alpha(crop_bgra[:, :, 3], polygon)
        if o.skin_edge:
            skin = self._colour.reference_stats if o.colour_match else LabStats.of(driver, ring)
            if skin is not None:
                alpha = cv2.multiply(alpha, self._skin_keep(driver, skin, polygon, eye_row), scale=1.0 / 255.0)
        out = cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA)
        out[:, :, 3] = alpha
        return out

    def _skin_keep(self, driver_small: np.ndarray, skin: LabStats, polygon: np.ndarray,
                   eye_row: int) -> np.ndarray:
        """uint8 S×S: 255 where the render may cover, lowered in the polygon's outer band
        (outside 0.8 of its size, below the eye line) where the driver's pixel does not look
        like the driver's skin — hair over a cheek or the jaw, background at the silhouette."""
        small = driver_small.shape[0]
        k = small / self.crop_size
        band = cv2.subtract(np.full((small, small), 255, np.uint8),
                            polygon_mask(scaled_about_centre(polygon, 0.8), (small, small), k))
        band[: eye_row + 1] = 0
        drop = (band.astype(np.float32) / 255.0) * (1.0 - skin.similarity(driver_small))
        keep = cv2.GaussianBlur(1.0 - drop, (3, 3), 0)
        keep = cv2.resize(keep, (self.crop_size, self.crop_size), interpolation=cv2.INTER_LINEAR)
        return np.clip(keep * 255.0, 0, 255).astype(np.uint8)

    def _blend(self, out: np.ndarray, crop_bgra: np.ndarray, matrix: np.ndarray) -> None:
        self.last_alpha, self.last_matrix = crop_bgra[:, :, 3], matrix
        blend_crop(out, crop_bgra, matrix)

    def last_alpha_out(self) -> np.ndarray | None:
        """The last blend's alpha (float32 0..1) at the output size: where the render covers
        the picture (for seam measurements; not used on the live path)."""
        if self.last_alpha is None:
            return None
        a = cv2.warpAffine(self.last_alpha, self.last_matrix, (self.width, self.height),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return a.astype(np.float32) / 255.0

    def driver_only(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The driver's frame at the output size (reveal mode, passthrough)."""
        return cover_resize(frame_bgr, self.width, self.height)

    def plate(self) -> np.ndarray:
        """The background with nothing on it (no face rendered yet): the photo as it is."""
        return self._photo_out.copy()

    # --- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _checked(crop_bgra: np.ndarray) -> np.ndarray:
        if crop_bgra.ndim != 3 or crop_bgra.shape[2] != 4 or crop_bgra.dtype != np.uint8:
            raise ValueError(f"the decoder must give (S, S, 4) uint8 BGRA, got "
                             f"{crop_bgra.shape} {crop_bgra.dtype}")
        return crop_bgra

    def _feathered(self, crop_bgra: np.ndarray) -> np.ndarray:
        """A copy with the alpha eroded and blurred (in crop space: 256², cheap), so the pasted
        face fades into the driver's skin instead of showing a seam."""
        o = self.options
        alpha = crop_bgra[:, :, 3]
        if o.erode_px:
            alpha = cv2.erode(alpha, np.ones((3, 3), np.uint8), iterations=o.erode_px)
        if o.feather_px:
            k = 2 * o.feather_px + 1
            alpha = cv2.GaussianBlur(alpha, (k, k), 0)
        out = crop_bgra.copy()
        out[:, :, 3] = cv2.multiply(alpha, self._edge_window(), scale=1.0 / 255.0)
        return out

    def _edge_window(self) -> np.ndarray:
        """uint8 S×S: 255 inside, ramping to 0 over the outer ``edge_fade`` of the crop, so a
        decoder alpha that does not reach 0 at the crop border never shows a square edge."""
        if self._window is None:
            s = self.crop_size
            ramp = max(1, int(round(self.options.edge_fade * s)))
            d = np.minimum(np.arange(s), np.arange(s)[::-1]).astype(np.float32)
            w1 = np.clip(d / ramp, 0.0, 1.0)
            self._window = np.round(255.0 * np.outer(w1, w1)).astype(np.uint8)
        return self._window

    def _face_alpha(self, decoder_alpha: np.ndarray, polygon: np.ndarray) -> np.ndarray:
        """The feathered face polygon × the decoder's alpha × the edge window: the render shows
        only over the driver's face, never its own hair."""
        o = self.options
        face = polygon_mask(polygon, (self.crop_size, self.crop_size))
        if o.feather_px:
            k = 2 * o.feather_px + 1
            face = cv2.GaussianBlur(face, (k, k), 0)
        alpha = cv2.multiply(decoder_alpha, face, scale=1.0 / 255.0)
        return cv2.multiply(alpha, self._edge_window(), scale=1.0 / 255.0)

    def _edge_faded(self, crop_bgra: np.ndarray) -> np.ndarray:
        out = crop_bgra.copy()
        out[:, :, 3] = cv2.multiply(crop_bgra[:, :, 3], self._edge_window(), scale=1.0 / 255.0)
        return out

    def _match_colour(self, crop_bgra: np.ndarray, frame_bgr: np.ndarray,
                      to_crop: np.ndarray) -> None:
        """Shift the render's mean colour on the face to the driver's (in place). Means are
        taken on 64² versions (plenty for a mean) and smoothed over time against flicker."""
        small = 64
        k = small / self.crop_size
        driver = cv2.warpAffine(frame_bgr, to_crop * k, (small, small), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        render = cv2.resize(crop_bgra, (small, small), interpolation=cv2.INTER_AREA)
        mask = (render[:, :, 3] > 230).astype(np.uint8)
        if int(mask.sum()) < 16:
            return
        d_mean = np.array(cv2.mean(driver, mask=mask)[:3], np.float32)
        r_mean = np.array(cv2.mean(render[:, :, :3].copy(), mask=mask)[:3], np.float32)
        e = self.options.colour_smoothing
        self._colour_shift = e * self._colour_shift + (1 - e) * (d_mean - r_mean)
        shift = self._colour_shift
        bgr = cv2.cvtColor(crop_bgra, cv2.COLOR_BGRA2BGR)
        bgr = cv2.add(bgr, (float(shift[0]), float(shift[1]), float(shift[2]), 0.0))
        crop_bgra[:, :, :3] = bgr

    @property
    def colour_shift(self) -> np.ndarray:
        """Legacy path: the BGR mean shift in use."""
        return self._colour_shift.copy()

    @property
    def colour(self) -> LabTransfer:
        """The Lab transfer in use (paste mode, not legacy)."""
        return self._colour
