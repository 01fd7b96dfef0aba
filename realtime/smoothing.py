"""Causal One Euro smoothing of tracked landmarks, head pose and blendshapes.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with the
signal's speed: still faces get heavy smoothing (no jitter), fast motion little (no lag).
It only looks at past samples, so it adds no look-ahead latency. ``min_cutoff`` (Hz) sets the
jitter/lag trade-off when still, ``beta`` how quickly the cutoff opens up with speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from latentcam.facekit.observation import FaceObservation


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One Euro filter over arrays of any fixed shape."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or self._t is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            dt = 1e-3  # repeated or out-of-order stamp: treat as a tiny step
        self._t = t
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        return self._x.copy()


@dataclass(frozen=True)
class SmoothingOptions:
    """One Euro parameters. Landmarks are in pixels, so ``beta`` is per pixel/second."""

    enabled: bool = True
    landmark_min_cutoff: float = 1.5    # Hz; lower = steadier when still, more lag
    landmark_beta: float = 0.05         # cutoff increase per px/s of motion
    pose_min_cutoff: float = 1.0
    pose_beta: float = 0.3
    blendshape_min_cutoff: float = 3.0  # expressions must stay snappy (blinks last ~100 ms)
    blendshape_beta: float = 2.0
    d_cutoff: float = 1.0

    def validate(self) -> None:
        for name in ("landmark_min_cutoff", "pose_min_cutoff", "blendshape_min_cutoff", "d_cutoff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"smoothing.{name} must be > 0, got {getattr(self, name)}")
        for name in ("landmark_beta", "pose_beta", "blendshape_beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"smoothing.{name} must be >= 0, got {getattr(self, name)}")


def _orthonormalise(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


class FaceSmoother:
    """Smooths a stream of ``FaceObservation``s; returns new observations (inputs untouched).

    Head rotation is smoothed as matrix entries and re-orthonormalised (small angles between
    frames make this equivalent to smoothing angles, without wrap-around at ±180°).
    A gap (no face) longer than ``reset_after_s`` restarts the filters so a face that
    reappears elsewhere does not glide in from its old position.
    """

    def __init__(self, options: SmoothingOptions = SmoothingOptions(), reset_after_s: float = 0.5):
        options.validate()
        self.options = options
        self.enabled = options.enabled
        self.reset_after_s = reset_after_s
        o = options
        self._landmarks = OneEuroFilter(o.landmark_min_cutoff, o.landmark_beta, o.d_cutoff)
        self._rotation = OneEuroFilter(o.pose_min_cutoff, o.pose_beta, o.d_cutoff)
        self._translation = OneEuroFilter(o.pose_min_cutoff, o.pose_beta, o.d_cutoff)
        self._blendshapes = OneEuroFilter(o.blendshape_min_cutoff, o.blendshape_beta, o.d_cutoff)
        self._last_t: float | None = None

    def reset(self) -> None:
        for f in (self._landmarks, self._rotation, self._translation, self._blendshapes):
            f.reset()
        self._last_t = None

    def __call__(self, face: FaceObservation | None, t: float) -> FaceObservation | None:
        if face is None:
            return None
        if not self.enabled:
            self._last_t = None
            return face
        if self._last_t is not None and t - self._last_t > self.reset_after_s:
            self.reset()
        self._last_t = t
        lm = self._landmarks(face.landmarks_px, t).astype(np.float32)
        w, h = face.image_size
        norm = lm / np.array([w, h, w], dtype=np.float32)
        transform = np.array(face.head_transform, dtype=np.float64)
        rot = _orthonormalise(self._rotation(transform[:3, :3], t))
        transform[:3, :3] = rot
        transform[:3, 3] = self._translation(transform[:3, 3], t)
        bs = np.clip(self._blendshapes(face.blendshapes, t), 0.0, 1.0).astype(np.float32)
        x0, y0 = lm[:, :2].min(axis=0)
        x1, y1 = lm[:, :2].max(axis=0)
        return replace(face, landmarks_px=lm, landmarks_norm=norm, blendshapes=bs,
                       head_transform=transform.astype(np.float32),
                       bbox=(float(x0), float(y0), float(x1), float(y1)))
