"""What the output does when the driver's face is gone: hold, then ease into a living idle.

A frozen face reads as "the video hung"; a face that suddenly snaps to neutral reads as a glitch.
So when tracking loses the face, ``Presence`` holds the last expression for ``hold_s``, then
eases over ``ease_s`` to the target's neutral face with gentle idle motion: blinks every few
seconds and a slow, small head sway. When the face comes back it blends back in over
``return_s``. It works on the retargeted face (``points``, ``pose``, ``blendshapes``) and on the
portrait head motion, so the renderer and compositor need no special case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from latentcam.facekit.blendshapes import INDEX
from latentcam.facekit.landmarks import LEFT_LID_PAIRS, RIGHT_LID_PAIRS

# Upper-lid → lower-lid landmark pairs for synthetic blinks.
_UPPER = np.array([u for u, _ in RIGHT_LID_PAIRS + LEFT_LID_PAIRS])
_LOWER = np.array([d for _, d in RIGHT_LID_PAIRS + LEFT_LID_PAIRS])
_BLINK = np.array([INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]])


class PresenceState(Enum):
    TRACKING = "tracking"
    HOLD = "hold"          # face just lost: last expression held
    IDLE = "idle"          # easing into / staying in idle motion


@dataclass(frozen=True)
class PresenceOptions:
    hold_s: float = 0.5            # keep the last expression this long after the face is lost
    ease_s: float = 1.5            # then ease to neutral + idle over this long
    return_s: float = 0.25         # blend back to the live face when it returns
    blink_interval_s: float = 3.5  # mean time between idle blinks
    blink_s: float = 0.18          # duration of one blink
    sway_deg: float = 3.0          # amplitude of the idle head sway (yaw); pitch/roll smaller
    sway_shift: float = 0.02       # idle head drift, as a fraction of the crop size
    seed: int = 0

    def validate(self) -> None:
        for name in ("hold_s", "ease_s", "return_s", "blink_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"presence.{name} must be >= 0; got {getattr(self, name)}")
        if self.blink_interval_s <= self.blink_s:
            raise ValueError("presence.blink_interval_s must be longer than presence.blink_s")


@dataclass(frozen=True)
class NeutralFace:
    """A retargeted-face value (same fields as ``calibration.RetargetedFace``)."""

    points: np.ndarray       # (478, 3) canonical frame
    pose: np.ndarray         # (3,) yaw, pitch, roll degrees
    blendshapes: np.ndarray  # (52,)


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def _lerp_face(a, b, w: float):
    if w <= 0.0:
        return a
    if w >= 1.0:
        return b
    return replace(a,
                   points=((1 - w) * np.asarray(a.points) + w * np.asarray(b.points)).astype(np.float32),
                   pose=((1 - w) * np.asarray(a.pose) + w * np.asarray(b.pose)).astype(np.float32),
                   blendshapes=((1 - w) * np.asarray(a.blendshapes)
                                + w * np.asarray(b.blendshapes)).astype(np.float32))


def _identity_motion() -> np.ndarray:
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class Presence:
    """``update(face, motion, t) -> (face, motion, state)``; ``face`` None means "no face"."""

    def __init__(self, neutral, options: PresenceOptions = PresenceOptions(), crop_size: int = 256):
        options.validate()
        self.options = options
        self.neutral = neutral
        self.crop_size = crop_size
        self._last_face = None
        self._last_motion = _identity_motion()
        self._lost_at: float | None = None
        self._returned_at: float | None = None
        self._idle_face = neutral           # what was shown when the face came back
        self._idle_motion = _identity_motion()
        rng = np.random.default_rng(options.seed)
        self._blink_times = np.cumsum(rng.uniform(0.6, 1.4, 4096) * options.blink_interval_s)
        self.state = PresenceState.IDLE

    def reset(self) -> None:
        self._last_face = None
        self._lost_at = None

    def idle(self, t: float):
        """The idle face and motion at time ``t`` (seconds)."""
        o = self.options
        face = self.neutral
        pose = np.asarray(face.pose, np.float32) + np.array([
            o.sway_deg * math.sin(2 * math.pi * t / 6.1),
            0.5 * o.sway_deg * math.sin(2 * math.pi * t / 4.3 + 1.0),
            0.3 * o.sway_deg * math.sin(2 * math.pi * t / 8.7 + 2.0)], np.float32)
        blink = self._blink_amount(t)
        points = np.array(face.points, np.float32, copy=True)
        blendshapes = np.array(face.blendshapes, np.float32, copy=True)
        if blink > 0:
            points[_UPPER] += 0.9 * blink * (points[_LOWER] - points[_UPPER])
            blendshapes[_BLINK] = np.maximum(blendshapes[_BLINK], blink)
        shift = o.sway_shift * self.crop_size
        motion = _identity_motion()
        motion[0, 2] = shift * math.sin(2 * math.pi * t / 7.3)
        motion[1, 2] = 0.5 * shift * math.sin(2 * math.pi * t / 5.1 + 0.7)
        return replace(face, points=points, pose=pose, blendshapes=blendshapes), motion

    def _blink_amount(self, t: float) -> float:
        o = self.options
        k = int(np.searchsorted(self._blink_times, t % self._blink_times[-1]))
        start = self._blink_times[k - 1] if k > 0 else 0.0
        phase = (t % self._blink_times[-1] - start) / o.blink_s if o.blink_s > 0 else 1.0
        if k == 0 or phase >= 1.0:
            return 0.0
        return math.sin(math.pi * phase)  # close and open again

    def update(self, face, motion: np.ndarray | None, t: float):
        o = self.options
        if motion is None:
            motion = _identity_motion()
        if face is not None:
            if self._lost_at is not None:
                self._returned_at = t
                self._lost_at = None
            w = 1.0
            if self._returned_at is not None and o.return_s > 0:
                w = _smoothstep((t - self._returned_at) / o.return_s)
                if w >= 1.0:
                    self._returned_at = None
            self._last_face, self._last_motion = face, motion
            self.state = PresenceState.TRACKING
            if w < 1.0:
                return (_lerp_face(self._idle_face, face, w),
                        (1 - w) * self._idle_motion + w * motion, self.state)
            return face, motion, self.state
        # No face.
        if self._lost_at is None:
            self._lost_at = t
        since = t - self._lost_at
        idle_face, idle_motion = self.idle(t)
        if self._last_face is None:
            w = 1.0
        elif since < o.hold_s:
            w = 0.0
        else:
            w = _smoothstep((since - o.hold_s) / o.ease_s) if o.ease_s > 0 else 1.0
        self.state = PresenceState.HOLD if w == 0.0 else PresenceState.IDLE
        if self._last_face is None or w >= 1.0:
            out_face, out_motion = idle_face, idle_motion
        else:
            out_face = _lerp_face(self._last_face, idle_face, w)
            out_motion = (1 - w) * self._last_motion + w * idle_motion
        self._idle_face, self._idle_motion = out_face, out_motion
        return out_face, out_motion, self.state
