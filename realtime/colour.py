"""Colour and brightness matching of a rendered face to the skin around it.

Statistics transfer in CIELAB (Reinhard et al., "Color Transfer between Images", 2001 — the
``rct`` mode of face-swap tools): each Lab channel of the render is moved so that its mean and
standard deviation on the render's own skin equal those of the reference skin::

    out_c = (x_c - mean_render_c) * (std_ref_c / std_render_c) + mean_ref_c

Lab separates lightness from colour, so a darker room changes L and a warmer lamp changes a/b
without tinting the shadows grey. The statistics are exponentially smoothed over frames (a
blink or a hand entering the skin ring must not make the face flicker), and the per-channel
gain is clamped so that a ring that catches hair or shadow cannot blow the contrast up.

Cost: the statistics are taken on small (e.g. 64²) images; the transfer itself is one 8-bit
Lab round trip and a 256-entry lookup table per channel on the crop (about 0.3 ms at 256²).
OpenCV's 8-bit Lab is an affine rescaling of true Lab (L·255/100, a+128, b+128), so an affine
map per channel in true Lab is the same affine map in 8-bit Lab, and the table is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LabStats:
    """Mean and standard deviation per channel of an image region, in 8-bit Lab units."""

    mean: np.ndarray   # (3,) float32
    std: np.ndarray    # (3,) float32

    @staticmethod
    def of(bgr: np.ndarray, mask: np.ndarray, trim: float = 0.05) -> "LabStats | None":
        """Statistics of ``bgr`` (uint8, small: every masked pixel is visited in numpy) where
        ``mask`` (uint8, nonzero = in) is set, leaving out the darkest and lightest ``trim``
        share of the pixels by L (a strand of hair, a shadow or a highlight in the skin ring
        must not decide the face's colour); None when fewer than 16 pixels remain."""
        if int(cv2.countNonZero(mask)) < 16:
            return None
        colour = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR) if bgr.shape[2] == 4 else bgr
        lab = cv2.cvtColor(colour, cv2.COLOR_BGR2LAB)
        px = lab[mask > 0].astype(np.float32)                      # (N, 3)
        if trim > 0:
            lo, hi = np.quantile(px[:, 0], [trim, 1.0 - trim])
            px = px[(px[:, 0] >= lo) & (px[:, 0] <= hi)]
        if len(px) < 16:
            return None
        return LabStats(px.mean(axis=0), px.std(axis=0))

    def similarity(self, bgr: np.ndarray, near: float = 2.5, far: float = 4.0,
                   std_floor: tuple[float, float, float] = (8.0, 3.0, 3.0)) -> np.ndarray:
        """float32 (h, w) in 0..1: how much each pixel of ``bgr`` looks like this region — 1 up
        to a normalised Lab distance of ``near`` standard deviations, 0 from ``far`` on (the std
        is floored so an evenly lit region does not reject every other shade of itself)."""
        lab = cv2.cvtColor(np.ascontiguousarray(bgr[:, :, :3]), cv2.COLOR_BGR2LAB).astype(np.float32)
        z = (lab - self.mean) / np.maximum(self.std, np.asarray(std_floor, np.float32))
        d = np.sqrt((z * z).sum(axis=2))
        return np.clip((far - d) / (far - near), 0.0, 1.0)

    def blend(self, new: "LabStats", keep: float) -> "LabStats":
        """Exponential smoothing: ``keep`` of self, ``1 - keep`` of ``new``."""
        return LabStats(keep * self.mean + (1.0 - keep) * new.mean,
                        keep * self.std + (1.0 - keep) * new.std)


class LabTransfer:
    """Keeps smoothed Lab statistics of a render's skin and of the reference skin, and applies
    the mean/std transfer between them to whole crops.

    ``smoothing`` is the share of the previous statistics kept each update (0 = none); the first
    update is taken as it is, so the match is right from the first frame rather than fading in.
    ``gain_range`` clamps std_ref / std_render per channel.
    """

    def __init__(self, smoothing: float = 0.8, gain_range: tuple[float, float] = (0.5, 2.0)):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"colour smoothing must be in [0, 1); got {smoothing}")
        lo, hi = gain_range
        if not 0.0 < lo <= 1.0 <= hi:
            raise ValueError(f"colour gain_range must satisfy 0 < lo <= 1 <= hi; got {gain_range}")
        self.smoothing = float(smoothing)
        self.gain_range = (float(lo), float(hi))
        self._render: LabStats | None = None
        self._reference: LabStats | None = None
        self._lut: np.ndarray | None = None

    def reset(self) -> None:
        self._render = self._reference = None
        self._lut = None

    @property
    def ready(self) -> bool:
        return self._lut is not None

    def update(self, render_bgr: np.ndarray, render_mask: np.ndarray,
               reference_bgr: np.ndarray, reference_mask: np.ndarray) -> bool:
        """Take this frame's statistics (render skin, reference skin); False when either region
        is too small, in which case the previous transfer stays in use."""
        r = LabStats.of(render_bgr, render_mask)
        d = LabStats.of(reference_bgr, reference_mask)
        if r is None or d is None:
            return False
        if self._render is None:
            self._render, self._reference = r, d
        else:
            self._render = self._render.blend(r, self.smoothing)
            self._reference = self._reference.blend(d, self.smoothing)
        self._lut = self._table()
        return True

    def gain_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """(gain, offset) per Lab channel (8-bit units): out = gain · x + offset."""
        if self._render is None:
            return np.ones(3, np.float32), np.zeros(3, np.float32)
        gain = np.clip(self._reference.std / np.maximum(self._render.std, 1e-3), *self.gain_range)
        offset = self._reference.mean - gain * self._render.mean
        return gain.astype(np.float32), offset.astype(np.float32)

    def _table(self) -> np.ndarray:
        gain, offset = self.gain_offset()
        x = np.arange(256, dtype=np.float32)[:, None]
        lut = np.clip(np.rint(x * gain[None, :] + offset[None, :]), 0, 255).astype(np.uint8)
        return lut.reshape(256, 1, 3)

    def apply(self, bgr: np.ndarray) -> np.ndarray:
        """The transfer applied to a uint8 BGR (or the colour of a BGRA) image; a new BGR array.
        Before the first successful ``update`` the colours come back unchanged."""
        colour = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR) if bgr.shape[2] == 4 else bgr
        if self._lut is None:
            return colour.copy()
        lab = cv2.cvtColor(colour, cv2.COLOR_BGR2LAB)
        return cv2.cvtColor(cv2.LUT(lab, self._lut), cv2.COLOR_LAB2BGR)

    @property
    def reference_stats(self) -> LabStats | None:
        return self._reference

    @property
    def render_stats(self) -> LabStats | None:
        return self._render
