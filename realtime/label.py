"""The visible "SYNTHETIC" mark stamped on every output frame (on unless explicitly disabled)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")


@dataclass(frozen=True)
class LabelOptions:
    enabled: bool = True
    text: str = "SYNTHETIC"
    position: str = "bottom-right"   # one of POSITIONS
    opacity: float = 0.8             # 0..1, of the whole badge
    scale: float = 1.0               # relative to a 720-line frame

    def validate(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"label.position must be one of {', '.join(POSITIONS)}; "
                             f"got {self.position!r}")
        if not 0.0 < self.opacity <= 1.0:
            raise ValueError(f"label.opacity must be in (0, 1]; got {self.opacity} "
                             "(to hide the label use --no-label)")
        if not 0.2 <= self.scale <= 5.0:
            raise ValueError(f"label.scale must be in [0.2, 5]; got {self.scale}")
        if not self.text.strip():
            raise ValueError("label.text must not be empty (to hide the label use --no-label)")


class SyntheticLabel:
    """Pre-renders the badge once per frame size; ``apply`` blends it in place (a few µs)."""

    def __init__(self, options: LabelOptions = LabelOptions()):
        options.validate()
        self.options = options
        self.enabled = options.enabled
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int, int]] = {}

    def badge_rect(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the badge in a width×height frame."""
        badge, _, x, y = self._badge(width, height)
        return x, y, x + badge.shape[1], y + badge.shape[0]

    def _badge(self, width: int, height: int):
        key = (width, height)
        if key not in self._cache:
            o = self.options
            s = o.scale * height / 720.0
            font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, int(round(2 * s)))
            font_scale = 0.8 * s
            (tw, th), base = cv2.getTextSize(o.text, font, font_scale, thickness)
            pad = max(2, int(round(8 * s)))
            bw, bh = tw + 2 * pad, th + base + 2 * pad
            bw, bh = min(bw, width), min(bh, height)
            badge = np.zeros((bh, bw, 3), np.uint8)
            badge[:] = (20, 20, 20)
            cv2.putText(badge, o.text, (pad, pad + th), font, font_scale, (255, 255, 255),
                        thickness, cv2.LINE_AA)
            cv2.rectangle(badge, (0, 0), (bw - 1, bh - 1), (255, 255, 255), max(1, thickness // 2))
            margin = max(2, int(round(12 * s)))
            x = margin if o.position.endswith("left") else width - bw - margin
            y = margin if o.position.startswith("top") else height - bh - margin
            x, y = max(0, x), max(0, y)
            self._cache[key] = (badge, np.float32(o.opacity), x, y)
        return self._cache[key]

    def apply(self, bgr: np.ndarray) -> np.ndarray:
        """Stamp the badge into ``bgr`` (in place) and return it."""
        if not self.enabled:
            return bgr
        h, w = bgr.shape[:2]
        badge, opacity, x, y = self._badge(w, h)
        roi = bgr[y:y + badge.shape[0], x:x + badge.shape[1]]
        cv2.addWeighted(badge, float(opacity), roi, 1.0 - float(opacity), 0.0, dst=roi)
        return bgr
