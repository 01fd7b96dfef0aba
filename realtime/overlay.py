"""The live switches (``Controls``), the preview window's keys that change them, and the preview
overlay (fps, latency, engine, state)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .composite import MODES, CompositeMode, cover_resize

# key → (action, help text). Letters are case-insensitive.
KEYS: dict[str, tuple[str, str]] = {
    "c": ("recalibrate", "recalibrate (reset the reference pose)"),
    "r": ("reveal", "reveal: real camera <-> synthetic"),
    "l": ("label", "toggle the SYNTHETIC label"),
    "m": ("mode", "switch compositing: portrait <-> paste"),
    "s": ("smoothing", "toggle smoothing"),
    "f": ("mirror", "mirror the preview"),
    "w": ("save", "write the current settings to the config file"),
    "q": ("quit", "quit (also Esc, Ctrl-C, closing the window)"),
}


@dataclass
class Controls:
    """Live switches: the preview's keys change them, the pipeline reads them every frame."""

    reveal: bool = False                 # show the real camera instead of the synthetic output
    label: bool = True
    mode: str = CompositeMode.PORTRAIT.value   # compositing mode, a composite.CompositeMode value
    smoothing: bool = True
    mirror_preview: bool = True
    recalibrate: bool = False            # set by the key; the pipeline clears it
    save: bool = False                   # set by the key; the pipeline saves the settings
    quit: bool = False
    changed: bool = False                # anything toggled (offer to save the config)


@dataclass(frozen=True)
class OverlayInfo:
    fps: float | None
    e2e_ms: float | None
    engine: str
    state: str            # "", "no face", "CAMERA LOST ...", "REAL CAMERA (reveal)"
    mode: str
    smoothing: bool
    label: bool


def apply_key(controls: Controls, key: int) -> str | None:
    """Change ``controls`` for a key code; returns the action name (or None)."""
    if key in (27,):
        controls.quit = True
        return "quit"
    ch = chr(key).lower() if 0 < key < 256 else ""
    if ch not in KEYS:
        return None
    action = KEYS[ch][0]
    if action == "recalibrate":
        controls.recalibrate = True
    elif action == "reveal":
        controls.reveal = not controls.reveal
    elif action == "label":
        controls.label = not controls.label
        controls.changed = True
    elif action == "mode":
        controls.mode = MODES[(MODES.index(controls.mode) + 1) % len(MODES)]
        controls.changed = True
    elif action == "smoothing":
        controls.smoothing = not controls.smoothing
        controls.changed = True
    elif action == "mirror":
        controls.mirror_preview = not controls.mirror_preview
        controls.changed = True
    elif action == "save":
        controls.save = True
    elif action == "quit":
        controls.quit = True
    return action


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour=(255, 255, 255)) -> None:
    thick = max(1, int(round(scale * 2)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def draw_overlay(img: np.ndarray, info: OverlayInfo) -> np.ndarray:
    """Status text in the top-left corner (in place)."""
    s = img.shape[0] / 720.0
    fps = f"{info.fps:4.1f} fps" if info.fps else "-- fps"
    e2e = f"{info.e2e_ms:5.1f} ms e2e" if info.e2e_ms is not None else "-- ms e2e"
    line1 = f"{fps}  {e2e}  {info.engine}"
    line2 = f"{info.mode}  smoothing {'on' if info.smoothing else 'off'}  label {'on' if info.label else 'OFF'}"
    _text(img, line1, (int(12 * s), int(32 * s)), 0.7 * s)
    _text(img, line2, (int(12 * s), int(60 * s)), 0.55 * s, (200, 200, 200))
    if info.state:
        _text(img, info.state, (int(12 * s), int(94 * s)), 0.8 * s, (60, 60, 255))
    help_line = "  ".join(f"{k}:{v[0]}" for k, v in KEYS.items())
    _text(img, help_line, (int(12 * s), img.shape[0] - int(14 * s)), 0.45 * s, (220, 220, 220))
    return img


def draw_banner(img: np.ndarray, text: str) -> np.ndarray:
    """A red banner across the top (camera lost)."""
    h, w = img.shape[:2]
    bh = max(24, h // 12)
    img[:bh] = (img[:bh] * 0.3).astype(np.uint8)
    img[:bh, :, 2] = np.maximum(img[:bh, :, 2], 140)
    s = h / 720.0
    _text(img, text, (int(16 * s), int(bh * 0.7)), 0.9 * s)
    return img


def side_by_side(driver: np.ndarray, output: np.ndarray) -> np.ndarray:
    """driver | output, both at the output's height (driver scaled to the output's size)."""
    h, w = output.shape[:2]
    left = cover_resize(driver, w, h) if driver.shape[:2] != (h, w) else driver
    return np.hstack([left, output])
