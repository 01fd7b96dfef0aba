"""Neutral capture: a couple of seconds of a relaxed, frontal, still face → the driver's neutral.

Feed one observation (or ``None`` for "no face") per frame. Each frame is checked in order —
face present, near-frontal, relaxed, still — and the first failed check is reported in plain
words. Any failure restarts the window, so the neutral comes from one uninterrupted stretch.
The result is a robust mean: the frames farthest from the per-coordinate median (a blink, a
twitch) are dropped before averaging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from latentcam.facekit.blendshapes import GROUPS, indices
from latentcam.facekit.geometry import canonicalize, head_pose
from latentcam.facekit.landmarks import EXPRESSIVE, LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS
from latentcam.facekit.observation import FaceObservation

NO_FACE = "no face"
TURN = "turn towards the camera"
RELAX = "relax your face"
HOLD_STILL = "hold still"

# Expressions that must be absent from a neutral face, with the score (max over the group)
# above which the face is not relaxed. Resting scores differ between people: on a real neutral
# face (single_face.mp4) brows_up and pucker sit near 0.5, so only clear expressions are
# rejected. Blinks are allowed (people blink; the robust mean drops those frames).
RELAX_LIMITS: tuple[tuple[str, float], ...] = (
    ("smile", 0.5), ("mouth_open", 0.4), ("frown", 0.6), ("eyes_wide", 0.6),
    ("brows_up", 0.8), ("pucker", 0.8),
)
_RELAX_INDEX = {g: indices(GROUPS[g]) for g, _ in RELAX_LIMITS}
_EXPRESSIVE = np.array(EXPRESSIVE)
# Stillness ignores eyelids and irises: a blink or a glance must not restart the window (the
# robust mean drops blink frames instead).
_STILL_POINTS = np.array(sorted(set(EXPRESSIVE) - set(RIGHT_EYE + LEFT_EYE + RIGHT_IRIS + LEFT_IRIS)))


@dataclass(frozen=True)
class NeutralCaptureOptions:
    seconds: float = 2.0            # length of the uninterrupted still window to capture
    max_yaw_deg: float = 15.0       # |yaw| above this → "turn towards the camera"
    max_pitch_deg: float = 15.0     # |pitch| above this → "turn towards the camera"
    require_frontal: bool = True    # False: any head pose is accepted (reference-pose resets)
    require_relaxed: bool = True    # reject clear expressions (RELAX_LIMITS) → "relax your face"
    still_cm: float = 0.12          # mean landmark distance (expressive points but eyelids and
                                    # irises, canonical cm)
                                    # from the window's first frame above this → "hold still";
                                    # tracking jitter on a still face is ~0.02–0.04 cm
    still_deg: float = 3.0          # head rotation from the window's first frame above this
    fps_hint: float = 30.0          # frame rate assumed when frames carry no timestamps
    keep_fraction: float = 0.75     # robust mean: share of frames (closest to the median) kept

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"neutral capture needs seconds > 0, got {self.seconds}")
        if not 0 < self.keep_fraction <= 1:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")


class CaptureState(Enum):
    WAITING = "waiting"        # the current frame failed a check; nothing collected
    COLLECTING = "collecting"  # inside a good window
    DONE = "done"


@dataclass(frozen=True)
class CaptureFeedback:
    state: CaptureState
    problem: str | None      # one of NO_FACE, TURN, RELAX, HOLD_STILL (None when fine)
    message: str             # plain words for the user, with the measured value when useful
    progress: float          # 0..1 of the window collected


@dataclass(frozen=True)
class NeutralResult:
    points: np.ndarray        # (478, 3) float32 canonical cm, robust mean
    pose: np.ndarray          # (3,) yaw/pitch/roll degrees, median
    blendshapes: np.ndarray   # (52,) median scores
    frames: int               # frames in the window
    frames_used: int          # frames kept by the robust mean
    seconds: float
    jitter_cm: float          # mean distance of the kept frames from the result (expressive pts)


def observation_pose(face: FaceObservation) -> np.ndarray:
    return np.array(head_pose(face.head_transform), dtype=np.float64)


# A single frame used as the neutral (the provisional one, before a capture succeeds) must also
# have open eyes and unfurrowed brows: the capture tolerates blinks because its robust mean drops
# them, a single frame cannot. Limits in the same spirit as RELAX_LIMITS.
SINGLE_FRAME_LIMITS: tuple[tuple[str, float], ...] = (("blink", 0.5), ("brows_down", 0.5))
_SINGLE_INDEX = {g: indices(GROUPS[g]) for g, _ in SINGLE_FRAME_LIMITS}


def neutrality(blendshapes: np.ndarray, pose: np.ndarray,
               options: NeutralCaptureOptions = NeutralCaptureOptions()) -> float:
    """How far a face is from a relaxed, frontal one with open eyes, by the capture's own
    measures (0 = relaxed and frontal; lower is more neutral):

        Σ over RELAX_LIMITS and SINGLE_FRAME_LIMITS of (group score / its limit)
          + |yaw| / max_yaw + |pitch| / max_pitch

    Each term is 1 where the capture would start to refuse the face, so expression and head
    pose weigh alike. A sum, not a maximum: a face that stops smiling is more neutral even while
    its resting brows score highest. Closed eyes and lowered brows count (a crying face with the
    eyes shut is not a neutral to measure expressions from).
    """
    b = np.asarray(blendshapes, dtype=np.float64)
    expression = sum(float(np.max(b[_RELAX_INDEX[g]])) / limit for g, limit in RELAX_LIMITS)
    expression += sum(float(np.max(b[_SINGLE_INDEX[g]])) / limit for g, limit in SINGLE_FRAME_LIMITS)
    yaw, pitch = float(pose[0]), float(pose[1])
    return expression + abs(yaw) / options.max_yaw_deg + abs(pitch) / options.max_pitch_deg


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


class NeutralCapture:
    """Collects a neutral face; ``feed`` once per frame until ``done``."""

    def __init__(self, options: NeutralCaptureOptions = NeutralCaptureOptions()):
        self.options = options
        self._frames_fed = 0
        self._result: NeutralResult | None = None
        self.problem_counts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Start over (the result, if any, is forgotten)."""
        self._points: list[np.ndarray] = []
        self._poses: list[np.ndarray] = []
        self._blendshapes: list[np.ndarray] = []
        self._times: list[float] = []
        self._result = None

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> NeutralResult:
        if self._result is None:
            raise RuntimeError("neutral capture is not finished; keep feeding frames until done")
        return self._result

    @property
    def most_common_problem(self) -> str | None:
        if not self.problem_counts:
            return None
        return max(self.problem_counts.items(), key=lambda kv: kv[1])[0]

    def _reject(self, problem: str, message: str) -> CaptureFeedback:
        self._points, self._poses, self._blendshapes, self._times = [], [], [], []
        self.problem_counts[problem] = self.problem_counts.get(problem, 0) + 1
        return CaptureFeedback(CaptureState.WAITING, problem, message, 0.0)

    def _duration(self) -> float:
        n = len(self._times)
        if n == 0:
            return 0.0
        if n == 1:
            return 1.0 / self.options.fps_hint
        span = self._times[-1] - self._times[0]
        return span + span / (n - 1)   # n frames cover n frame intervals

    def feed(self, face: FaceObservation | None, capture_time: float | None = None,
             points: np.ndarray | None = None) -> CaptureFeedback:
        """Check one frame. ``capture_time`` in seconds (monotonic or clip time); ``points``
        may pass ``canonicalize(face.landmarks_px).points`` when the caller has it already."""
        o = self.options
        if self._result is not None:
            return CaptureFeedback(CaptureState.DONE, None, "neutral face captured", 1.0)
        t = self._frames_fed / o.fps_hint if capture_time is None else float(capture_time)
        self._frames_fed += 1
        if face is None:
            return self._reject(NO_FACE, "no face: look into the camera")
        pose = observation_pose(face)
        yaw, pitch, _ = pose
        if o.require_frontal and (abs(yaw) > o.max_yaw_deg or abs(pitch) > o.max_pitch_deg):
            return self._reject(TURN, f"turn towards the camera (yaw {yaw:+.0f}°, pitch {pitch:+.0f}°; "
                                      f"limits ±{o.max_yaw_deg:.0f}° / ±{o.max_pitch_deg:.0f}°)")
        if o.require_relaxed:
            for group, limit in RELAX_LIMITS:
                score = float(np.max(face.blendshapes[_RELAX_INDEX[group]]))
                if score > limit:
                    return self._reject(RELAX, f"relax your face ({group.replace('_', ' ')} {score:.2f})")
        if points is None:
            points = canonicalize(face.landmarks_px).points
        if self._points:
            motion = float(np.linalg.norm(points[_STILL_POINTS] - self._points[0][_STILL_POINTS], axis=1).mean())
            turn = float(np.abs(_angle_diff(pose, self._poses[0])).max())
            if motion > o.still_cm or turn > o.still_deg:
                feedback = self._reject(HOLD_STILL, f"hold still (moved {motion:.2f} cm, {turn:.1f}°)")
                self._append(points, pose, face.blendshapes, t)   # this frame starts a new window
                return feedback
        self._append(points, pose, face.blendshapes, t)
        progress = min(1.0, self._duration() / o.seconds)
        if progress >= 1.0:
            self._result = self._finish()
            return CaptureFeedback(CaptureState.DONE, None, "neutral face captured", 1.0)
        return CaptureFeedback(CaptureState.COLLECTING, None, "keep still and relaxed", progress)

    def _append(self, points: np.ndarray, pose: np.ndarray, blendshapes: np.ndarray, t: float) -> None:
        self._points.append(points)
        self._poses.append(pose)
        self._blendshapes.append(np.asarray(blendshapes, dtype=np.float32))
        self._times.append(t)

    def _finish(self) -> NeutralResult:
        stack = np.stack(self._points).astype(np.float64)          # (N, 478, 3)
        median = np.median(stack, axis=0)
        dist = np.linalg.norm(stack[:, _EXPRESSIVE] - median[_EXPRESSIVE], axis=2).mean(axis=1)
        keep = max(1, int(np.ceil(self.options.keep_fraction * len(stack))))
        kept = np.argsort(dist, kind="stable")[:keep]
        points = stack[kept].mean(axis=0)
        jitter = float(np.linalg.norm(stack[kept][:, _EXPRESSIVE] - points[_EXPRESSIVE], axis=2).mean())
        poses = np.stack(self._poses)
        pose = np.degrees(np.angle(np.exp(1j * np.radians(poses)).mean(axis=0)))  # circular mean
        return NeutralResult(
            points=points.astype(np.float32),
            pose=pose.astype(np.float32),
            blendshapes=np.median(np.stack(self._blendshapes), axis=0).astype(np.float32),
            frames=len(stack), frames_used=int(keep), seconds=self._duration(), jitter_cm=jitter)
