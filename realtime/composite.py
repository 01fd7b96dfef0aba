"""Putting the rendered face crop into the output frame.

Two modes:

* ``portrait`` — the target's face on the bundle's background plate. The crop goes where the
  plate's own face is (the plate's alignment matrix), moved and scaled like the driver's head
  relative to its reference position, and the result is scaled to the output size.
* ``paste`` — the rendered face blended into the driver's own frame at the driver's face, using
  the inverse of ``facekit.geometry.alignment_matrix``, with a feathered mask from the decoder's
  alpha and the render's colour matched to the driver's skin.

Speed: the output background is prepared once (portrait) or resized once per frame (paste);
the crop is warped only into the bounding box it covers, and blending runs in OpenCV
(``cv2.blendLinear``) on that box, not over the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from latentcam.facekit.geometry import alignment_matrix, invert_affine

MODES = ("portrait", "paste")


@dataclass(frozen=True)
class CompositeOptions:
    mode: str = "portrait"          # "portrait" or "paste"
    follow: float = 1.0             # portrait: how much of the driver's head motion to follow (0..1)
    max_shift: float = 0.25         # portrait: largest head shift, as a fraction of the crop size
    scale_range: tuple[float, float] = (0.75, 1.35)  # portrait: allowed head-size change
    feather_px: int = 9             # paste: blur of the mask edge, in crop pixels
    erode_px: int = 4               # paste: shrink the mask before feathering (hides the seam)
    colour_match: bool = True       # paste: shift the render's colour to the driver's skin
    colour_smoothing: float = 0.8   # paste: EMA factor of the colour shift (0 = none)
    edge_fade: float = 0.06         # fade the alpha to 0 over this fraction of the crop border

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
        self._reference: np.ndarray | None = None   # driver's alignment at the reference pose
        self._colour_shift = np.zeros(3, np.float32)
        self._window: np.ndarray | None = None

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
    def portrait(self, crop_bgra: np.ndarray, motion: np.ndarray | None = None) -> np.ndarray:
        out = self._plate_out.copy()
        m = self._crop_to_out if motion is None else compose(self._crop_to_out, motion)
        blend_crop(out, self._edge_faded(self._checked(crop_bgra)), m)
        return out

    def paste(self, crop_bgra: np.ndarray, frame_bgr: np.ndarray,
              landmarks_px: np.ndarray) -> np.ndarray:
        fh, fw = frame_bgr.shape[:2]
        frame_to_out = cover_matrix(fw, fh, self.width, self.height)
        out = cover_resize(frame_bgr, self.width, self.height)
        to_crop = alignment_matrix(landmarks_px, self.crop_size)
        m = compose(frame_to_out, invert_affine(to_crop))
        crop = self._feathered(self._checked(crop_bgra))
        if self.options.colour_match:
            self._match_colour(crop, frame_bgr, to_crop)
        blend_crop(out, crop, m)
        return out

    def driver_only(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The driver's frame at the output size (reveal mode, passthrough)."""
        return cover_resize(frame_bgr, self.width, self.height)

    def plate(self) -> np.ndarray:
        return self._plate_out.copy()

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
        return self._colour_shift.copy()
