"""Retargeting: each live driver face → a face shaped like the target, moving like the driver.

Relative mode (default), in the canonical face frame (head pose, position and scale removed)::

    out = target_neutral + gain ⊙ (driver_now - driver_neutral)

so the driver's identity (jaw width, eye spacing) cancels and only the expression moves the
target. ``gain`` is per landmark: for each region of ``facekit.landmarks.REGIONS`` it is
the target/driver shape ratio per axis (a taller eye needs a bigger lid movement to blink),
times the range factor from calibration (the driver's widest smile → the target's widest),
times the sensitivity, times any user gain. Irises are placed separately, relative to the
eye corners in eye widths, so the gaze direction survives any eye shape.

Head pose: target neutral pose + (driver pose - driver neutral pose), clamped to the range the
target was trained on. Blendshapes: target resting scores + gain × the driver's change.

Lower face: where the target has a blendshape rig (``facekit.rig``: how the target's own
frames move their lips, jaw and cheeks per blendshape), its lower-face points are placed by the
rig from the retargeted blendshapes instead (``lower_face_rig`` = the share taken from the rig).
The landmark deltas of a mouth carry the driver's mouth shape as well as its motion: a driver
whose calm mouth hangs open, or who never rests, moves the target's lips less than their own,
while blendshape scores are the same for everyone (``benchmarks/latent/cross_default_compare.md``).

Absolute mode uses the driver's landmarks as they are (only scaled and placed onto the target
by a similarity fit on the stable points), the raw head pose (clamped) and raw blendshapes.

Without a profile the retargeter self-calibrates from the first still, frontal second and
says so through ``poll_events()``. Until then the provisional neutral is the most neutral face
seen so far (``neutral.neutrality``: expression and head pose): a driver who starts laughing
is not stuck with laughing as the neutral — the reference moves to a calmer face as soon as one
appears, and never to a less neutral one. A provisional neutral with shut eyes (a driver who
starts crying) gets the target's open eyes on the driver's eye corners, so blinks still move the
target's lids before any open-eyed face is seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

import numpy as np

from latentcam.facekit import landmarks as lm
from latentcam.facekit.blendshapes import BLENDSHAPE_NAMES, GROUPS, INDEX
from latentcam.facekit.geometry import canonicalize, umeyama
from latentcam.facekit.observation import FaceObservation

from .measures import MEASURE_BLENDSHAPE_GROUP, MIN_RANGE, REGION_MEASURES
from .mirror import mirror_blendshapes, mirror_points, mirror_pose
from .neutral import SINGLE_FRAME_LIMITS, NeutralCapture, NeutralCaptureOptions, neutrality, observation_pose
from .profile import CalibrationProfile
from .target import TargetGeometry


class RetargetMode(Enum):
    RELATIVE = "relative"   # target neutral + driver's deviation from its own neutral
    ABSOLUTE = "absolute"   # driver's landmarks as they are (identity leaks; no calibration)


class RetargetState(Enum):
    CALIBRATING = "calibrating"            # no profile yet: waiting for a still, frontal second
    CALIBRATED = "calibrated"              # neutral from a profile
    SELF_CALIBRATED = "self-calibrated"    # neutral captured live


_IRIS_REGIONS = ("right_iris", "left_iris")
_GAZE_GROUPS = ("gaze_horizontal", "gaze_vertical")
# (outer corner, inner corner, iris centre, iris ring) per eye.
_EYES = ((lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER, lm.RIGHT_IRIS[0], np.array(lm.RIGHT_IRIS[1:])),
         (lm.LEFT_EYE_OUTER, lm.LEFT_EYE_INNER, lm.LEFT_IRIS[0], np.array(lm.LEFT_IRIS[1:])))
_STABLE = np.array(lm.STABLE)
# A provisional neutral whose eyes score at least this blink has its eyes opened
# (``Retargeter._open_closed_eyes``): the blink limit of a single-frame neutral.
PROVISIONAL_BLINK_LIMIT = dict(SINGLE_FRAME_LIMITS)["blink"]
_MESH = np.arange(468)


def _closing_pairs() -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) landmark indices facing each other across the eyelids and inner lips.

    Each loop in ``facekit.landmarks`` starts at one corner and has the other corner halfway,
    so the lower arc is ``loop[1:n]`` and the upper arc, reversed, faces it point by point.
    """
    upper, lower = [], []
    for loop in (lm.RIGHT_EYE, lm.LEFT_EYE, lm.LIPS_INNER):
        n = len(loop) // 2
        lower += list(loop[1:n])
        upper += list(loop[n + 1:][::-1])
    return np.array(upper), np.array(lower)


_UPPER, _LOWER = _closing_pairs()


@dataclass(frozen=True)
class RetargetOptions:
    mode: RetargetMode = RetargetMode.RELATIVE
    sensitivity: float | None = None        # None: the profile's (1.0 without a profile)
    region_gain: Mapping[str, float] = field(default_factory=dict)  # extra gain per REGIONS name
    invert_yaw: bool = False
    invert_pitch: bool = False
    invert_roll: bool = False
    mirror: bool = False                    # swap the driver's left and right
    min_shape_ratio: float = 0.5            # clamp of the per-axis target/driver region ratio
    max_shape_ratio: float = 2.0
    min_range_scale: float = 0.33           # clamp of the calibrated range factors
    max_range_scale: float = 3.0
    self_calibration: NeutralCaptureOptions = NeutralCaptureOptions(seconds=1.0)
    provisional_margin: float = 0.05        # a provisional neutral is replaced by a face this
                                            # much more neutral (``neutrality`` units), not less
    lower_face_rig: float = 1.0             # share of the lower face placed by the target's
                                            # blendshape rig (0: landmark deltas only)
    # A reference-pose reset is taken wherever the user is looking (no frontal check).
    recalibration: NeutralCaptureOptions = NeutralCaptureOptions(seconds=0.5, require_frontal=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.provisional_margin) and self.provisional_margin >= 0):
            raise ValueError(f"provisional_margin must be a finite number >= 0, got {self.provisional_margin}")
        if self.sensitivity is not None and not (0.0 < self.sensitivity <= 10.0):
            raise ValueError(f"sensitivity must be in (0, 10], got {self.sensitivity}")
        if not (np.isfinite(self.lower_face_rig) and 0.0 <= self.lower_face_rig <= 1.0):
            raise ValueError(f"lower_face_rig must be in [0, 1], got {self.lower_face_rig}")
        for name, gain in self.region_gain.items():
            if name not in lm.REGIONS:
                raise ValueError(f"unknown region {name!r} in region_gain; known: {sorted(lm.REGIONS)}")
            if not (np.isfinite(gain) and gain >= 0):
                raise ValueError(f"region_gain[{name!r}] must be a finite number >= 0, got {gain}")


@dataclass(frozen=True)
class RetargetedFace:
    """The driver's expression on the target's face (input of ``latent.features``)."""

    points: np.ndarray        # (478, 3) float32 canonical-frame landmarks shaped like the target
    pose: np.ndarray          # (3,) float32 yaw/pitch/roll degrees within the target's range
    blendshapes: np.ndarray   # (52,) float32 scores in 0..1


@dataclass(frozen=True)
class CalibrationEvent:
    kind: str       # "self_calibrated" or "recalibrated"
    message: str    # one line for the user


@dataclass(frozen=True)
class _Reference:
    """The driver's neutral, already mirrored when ``options.mirror`` is on."""

    points: np.ndarray
    pose: np.ndarray
    blendshapes: np.ndarray


def _eye_frame(points: np.ndarray, outer: int, inner: int) -> tuple[np.ndarray, float]:
    centre = (points[outer] + points[inner]) / 2.0
    d = points[outer] - points[inner]
    return centre, max(math.sqrt(float(d @ d)), 1e-6)


def _gaze(points: np.ndarray, outer: int, inner: int, iris: int, ring: np.ndarray):
    """(iris offset from the eye-corner midpoint in eye widths, ring offsets from the iris centre)."""
    centre, width = _eye_frame(points, outer, inner)
    return (points[iris] - centre) / width, points[ring] - points[iris]


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64) + 180.0) % 360.0 - 180.0


class Retargeter:
    """Driver observations → ``RetargetedFace``; cheap enough to run every frame (~0.2 ms).

    ``process(face, capture_time)`` returns None for a missing face (``face is None``) and
    leaves its state untouched apart from restarting a pending neutral capture.
    """

    def __init__(self, profile: CalibrationProfile | None, target: TargetGeometry,
                 options: RetargetOptions = RetargetOptions()):
        if not isinstance(target, TargetGeometry):
            raise TypeError(f"target must be a TargetGeometry, got {type(target).__name__}")
        self.options = options
        self.target = target
        self.profile = profile
        self._events: list[CalibrationEvent] = []
        self._feedback: str | None = None
        self._capture: NeutralCapture | None = None
        self._capture_full = False
        self._recalibrate_requested = False
        self._reference: _Reference | None = None
        self._provisional: float | None = None    # neutrality of the provisional neutral
        self._pose_sign = np.array([-1.0 if options.invert_yaw else 1.0,
                                    -1.0 if options.invert_pitch else 1.0,
                                    -1.0 if options.invert_roll else 1.0])
        self._target_points = target.neutral_points.astype(np.float64)
        self._target_gaze = [_gaze(self._target_points, *eye) for eye in _EYES]
        if profile is not None:
            self._set_reference(profile.neutral_points, profile.neutral_pose, profile.neutral_blendshapes)
            self._state = RetargetState.CALIBRATED
        else:
            self._state = RetargetState.CALIBRATING
            self._start_capture(options.self_calibration, full=True)

    # --- status ------------------------------------------------------------------------------

    @property
    def state(self) -> RetargetState:
        return self._state

    @property
    def recalibrating(self) -> bool:
        """True while a neutral capture (self-calibration or a recalibration) is pending or running."""
        return self._capture is not None or self._recalibrate_requested

    @property
    def feedback(self) -> str | None:
        """While capturing: what the user should do ("hold still", ...); otherwise None."""
        return self._feedback if self._capture is not None else None

    @property
    def provisional_neutrality(self) -> float | None:
        """While no neutral has been captured or loaded: ``neutrality`` of the face in use as
        the provisional neutral (None otherwise, or before any face)."""
        return self._provisional if self._state is RetargetState.CALIBRATING else None

    def poll_events(self) -> list[CalibrationEvent]:
        """Calibration events since the last call (for the pipeline to print or show)."""
        events, self._events = self._events, []
        return events

    @property
    def sensitivity(self) -> float:
        if self.options.sensitivity is not None:
            return self.options.sensitivity
        return self.profile.sensitivity if self.profile is not None else 1.0

    @property
    def region_gains(self) -> dict[str, np.ndarray]:
        """Per-region (3,) gains in use (shape ratio × range factor × sensitivity × user gain)."""
        return dict(self._region_gains)

    # --- calibration ------------------------------------------------------------------------

    def recalibrate(self) -> None:
        """Reset the reference pose from the next still half-second (any head pose).

        With a profile only the reference head pose is replaced (the profile's neutral face was
        captured deliberately); when self-calibrated, the neutral face is re-captured as well.
        Safe to call from another thread (a key handler): it only raises a flag that the next
        ``process`` call acts on.
        """
        self._recalibrate_requested = True

    def _start_capture(self, options: NeutralCaptureOptions, full: bool) -> None:
        self._capture = NeutralCapture(options)
        self._capture_full = full
        self._feedback = "calibrating: look at the camera with a relaxed face and hold still"

    def _finish_capture(self) -> None:
        capture, self._capture = self._capture, None
        result = capture.result
        if self._state is RetargetState.CALIBRATING:
            self._set_reference(result.points, result.pose, result.blendshapes)
            self._state = RetargetState.SELF_CALIBRATED
            self._events.append(CalibrationEvent(
                "self_calibrated",
                f"self-calibrated: neutral face taken from {result.frames} still, frontal frames "
                f"({result.seconds:.1f} s). Press the recalibrate key to redo it, or run "
                "`latentcam calibrate` to make a profile."))
        elif self._capture_full:
            self._set_reference(result.points, result.pose, result.blendshapes)
            self._events.append(CalibrationEvent(
                "recalibrated", f"recalibrated: new neutral face and reference pose "
                                f"(yaw {result.pose[0]:+.0f}°, pitch {result.pose[1]:+.0f}°)"))
        else:
            ref = self._reference
            pose = mirror_pose(result.pose) if self.options.mirror else result.pose
            self._reference = _Reference(ref.points, np.asarray(pose, dtype=np.float64), ref.blendshapes)
            self._events.append(CalibrationEvent(
                "recalibrated", f"reference pose reset (yaw {result.pose[0]:+.0f}°, "
                                f"pitch {result.pose[1]:+.0f}°)"))

    def _set_reference(self, points: np.ndarray, pose: np.ndarray, blendshapes: np.ndarray,
                       provisional: bool = False) -> None:
        points = np.asarray(points, dtype=np.float64)
        pose = np.asarray(pose, dtype=np.float64)
        blendshapes = np.asarray(blendshapes, dtype=np.float64)
        if self.options.mirror:
            points, pose, blendshapes = mirror_points(points), mirror_pose(pose), mirror_blendshapes(blendshapes)
        if provisional:
            points, blendshapes = self._open_closed_eyes(points, blendshapes)
        self._reference = _Reference(points, pose, blendshapes)
        self._driver_gaze = [_gaze(points, *eye) for eye in _EYES]
        self._compute_gains()

    def _open_closed_eyes(self, points: np.ndarray, blendshapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A provisional neutral with closed eyes (a driver who starts crying or laughing with
        the eyes shut) would make every later blink a no-op and every open eye a wide stare.
        Until a face with open eyes is seen, each closed eye of the reference (lids and iris) is
        replaced by the target's neutral eye scaled onto the driver's eye corners, and the eye
        blendshapes by the target's resting scores: closing the eyes then closes the target's."""
        closed = [INDEX[n] for n in GROUPS["blink"]]
        if float(np.max(blendshapes[closed])) < PROVISIONAL_BLINK_LIMIT:
            return points, blendshapes
        points, blendshapes = points.copy(), blendshapes.copy()
        target = self._target_points
        for loop, iris, (outer, inner, _, _) in zip((lm.RIGHT_EYE, lm.LEFT_EYE), (lm.RIGHT_IRIS, lm.LEFT_IRIS), _EYES):
            idx = np.array(loop + iris)
            scale = (np.linalg.norm(points[outer] - points[inner])
                     / max(float(np.linalg.norm(target[outer] - target[inner])), 1e-6))
            points[idx] = (points[outer] + points[inner]) / 2 + scale * (target[idx] - (target[outer] + target[inner]) / 2)
        for group in ("blink", "eyes_wide"):
            names = [INDEX[n] for n in GROUPS[group]]
            blendshapes[names] = self.target.neutral_blendshapes[names]
        for name in ("eyeSquintLeft", "eyeSquintRight"):
            blendshapes[INDEX[name]] = self.target.neutral_blendshapes[INDEX[name]]
        return points, blendshapes

    def _range_factor(self, measure: str, shape_ratio: float) -> float | None:
        driver = self.profile.ranges.get(measure) if self.profile is not None else None
        target = self.target.ranges.get(measure)
        if driver is None or target is None or driver < MIN_RANGE[measure] or target < MIN_RANGE[measure]:
            return None
        o = self.options
        return float(np.clip(target / (shape_ratio * driver), o.min_range_scale, o.max_range_scale))

    def _compute_gains(self) -> None:
        o = self.options
        driver, target = self._reference.points, self._target_points
        sens = self.sensitivity

        def shape_ratio(idx: np.ndarray) -> np.ndarray:
            sd = driver[idx].std(axis=0)
            st = target[idx].std(axis=0)
            return np.clip(st / np.maximum(sd, 1e-6), o.min_shape_ratio, o.max_shape_ratio)

        gains = np.repeat((shape_ratio(_MESH) * sens)[None, :], len(driver), axis=0)
        self._region_gains: dict[str, np.ndarray] = {}
        self._gaze_gain = [1.0, 1.0]
        for region, idx in lm.REGIONS.items():
            idx = np.array(idx)
            user = o.region_gain.get(region, 1.0)
            if region in _IRIS_REGIONS:
                factors = [self._range_factor(m, 1.0) for m, _ in REGION_MEASURES[region]]
                factors = [f for f in factors if f is not None]
                gain = (float(np.exp(np.mean(np.log(factors)))) if factors else 1.0) * user
                self._gaze_gain[_IRIS_REGIONS.index(region)] = gain
                self._region_gains[region] = np.full(3, gain)
                continue
            ratio = shape_ratio(idx)
            factors = [self._range_factor(m, float(ratio[axis])) for m, axis in REGION_MEASURES.get(region, ())]
            factors = [f for f in factors if f is not None]
            k = float(np.exp(np.mean(np.log(factors)))) if factors else 1.0
            gain = ratio * k * sens * user
            gains[idx] = gain
            self._region_gains[region] = gain
        self._gains = gains

        bs_gain = np.full(len(BLENDSHAPE_NAMES), sens)
        bs_gain[INDEX["_neutral"]] = 1.0
        for group in _GAZE_GROUPS:
            bs_gain[[INDEX[n] for n in GROUPS[group]]] = 1.0
        for measure, group in MEASURE_BLENDSHAPE_GROUP.items():
            d = self.profile.blendshape_ranges.get(group) if self.profile is not None else None
            t = self.target.blendshape_ranges.get(group)
            if d is not None and t is not None and d >= 0.05 and t >= 0.05:
                k = float(np.clip(t / d, o.min_range_scale, o.max_range_scale))
                base = 1.0 if group in _GAZE_GROUPS else sens
                bs_gain[[INDEX[n] for n in GROUPS[group]]] = base * k
        self._bs_gain = bs_gain

    # --- per frame ---------------------------------------------------------------------------

    def process(self, face: FaceObservation | None, capture_time: float | None = None
                ) -> RetargetedFace | None:
        """Retarget one observation; None in, None out (state kept). ``capture_time`` (seconds)
        times a pending neutral capture; without it frames are counted at the capture's fps hint."""
        if self._recalibrate_requested:
            self._recalibrate_requested = False
            if self._state is not RetargetState.CALIBRATING:   # self-calibration already runs
                self._start_capture(self.options.recalibration, full=self.profile is None)
        if face is None:
            if self._capture is not None:
                self._feedback = self._capture.feed(None, capture_time).message
            return None
        points = canonicalize(face.landmarks_px).points
        pose = observation_pose(face)
        if not (np.all(np.isfinite(points)) and np.all(np.isfinite(pose))):
            return None   # a degenerate track: treat as no face rather than poison the state
        if self._capture is not None:
            feedback = self._capture.feed(face, capture_time, points=points)
            self._feedback = feedback.message
            if self._capture.done:
                self._finish_capture()
        if self._state is RetargetState.CALIBRATING:
            # No neutral yet: the most neutral face so far is the provisional one.
            score = neutrality(face.blendshapes, pose, self.options.self_calibration)
            if self._provisional is None or score < self._provisional - self.options.provisional_margin:
                self._set_reference(points, pose, face.blendshapes, provisional=True)
                self._provisional = score
        return self.retarget(points, pose, face.blendshapes)

    __call__ = process

    def retarget(self, points: np.ndarray, pose: np.ndarray, blendshapes: np.ndarray) -> RetargetedFace:
        """The pure per-frame mapping on canonical-frame driver values (not mirrored yet)."""
        if self._reference is None:
            raise RuntimeError("the retargeter has no neutral yet; feed it faces with process()")
        p = np.asarray(points, dtype=np.float64)
        pose = np.asarray(pose, dtype=np.float64)
        b = np.asarray(blendshapes, dtype=np.float64)
        if self.options.mirror:
            p, pose, b = mirror_points(p), mirror_pose(pose), mirror_blendshapes(b)
        ref, target = self._reference, self.target
        if self.options.mode is RetargetMode.ABSOLUTE:
            s, rot, t = umeyama(p[_STABLE], self._target_points[_STABLE])
            out = (s * (rot @ p.T)).T + t
            out_pose = pose * self._pose_sign
            out_bs = b
        else:
            out = self._target_points + self._gains * (p - ref.points)
            out_bs = target.neutral_blendshapes + self._bs_gain * (b - ref.blendshapes)
            self._place_lower_face(out, np.clip(out_bs, 0.0, 1.0))
            self._keep_lids_apart(out, p)
            for k, eye in enumerate(_EYES):
                self._place_iris(out, p, eye, self._driver_gaze[k], self._target_gaze[k], self._gaze_gain[k])
            out_pose = target.neutral_pose + _angle_diff(pose, ref.pose) * self._pose_sign
        return RetargetedFace(
            points=out.astype(np.float32),
            pose=np.clip(out_pose, target.pose_min, target.pose_max).astype(np.float32),
            blendshapes=np.clip(out_bs, 0.0, 1.0).astype(np.float32),
        )

    def _place_lower_face(self, out: np.ndarray, blendshapes: np.ndarray) -> None:
        """The target's rig points where its own frames put them for these scores, mixed with
        the landmark-delta placement by ``lower_face_rig`` (in place; no rig: unchanged)."""
        rig, share = self.target.blendshape_rig, self.options.lower_face_rig
        if rig is None or share <= 0.0:
            return
        placed = self._target_points[rig.points] + rig.offsets(blendshapes - self.target.neutral_blendshapes)
        out[rig.points] = share * placed + (1.0 - share) * out[rig.points]

    @staticmethod
    def _keep_lids_apart(out: np.ndarray, p: np.ndarray) -> None:
        """Scaled lid or lip motion must not push an upper lid below its lower lid (an
        inverted eye) unless the driver's own landmarks did so: such pairs meet in the middle."""
        crossed = (out[_UPPER, 1] < out[_LOWER, 1]) & ~(p[_UPPER, 1] < p[_LOWER, 1])
        if crossed.any():
            u, l = _UPPER[crossed], _LOWER[crossed]
            mid = (out[u, 1] + out[l, 1]) / 2.0
            out[u, 1] = mid
            out[l, 1] = mid

    @staticmethod
    def _place_iris(out: np.ndarray, p: np.ndarray, eye, driver_neutral, target_neutral, gain: float) -> None:
        """Put the iris where the driver's gaze points, relative to the target's eye corners."""
        outer, inner, iris, ring = eye
        gaze_dn, ring_dn = driver_neutral
        gaze_tn, ring_tn = target_neutral
        gaze_d, ring_d = _gaze(p, outer, inner, iris, ring)
        _, width_d = _eye_frame(p, outer, inner)
        centre_t, width_t = _eye_frame(out, outer, inner)
        out[iris] = centre_t + (gaze_tn + gain * (gaze_d - gaze_dn)) * width_t
        out[ring] = out[iris] + ring_tn + (ring_d - ring_dn) * (width_t / width_d)
