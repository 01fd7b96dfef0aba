"""A whole calibration run: frames from a source → tracked → neutral capture → guided steps.

Kept apart from the CLI so that tests and other front ends (a preview window) can drive it.
Frames come from ``facekit.sources`` (a camera or a clip); clips are timed by their frame
numbers, cameras by their capture stamps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from latentcam.facekit.errors import InputError
from latentcam.facekit.geometry import canonicalize
from latentcam.facekit.sources import FrameSource
from latentcam.facekit.tracker import FaceTracker, TrackerOptions

from .neutral import NO_FACE, NeutralCapture, NeutralCaptureOptions
from .profile import CalibrationProfile
from .ranges import GuidedStep, RangeCapture, StepResult, combine_step_results


class CalibrationError(InputError, RuntimeError):
    """Calibration could not finish; the message says what went wrong and what to do."""


@dataclass(frozen=True)
class CalibrationOptions:
    neutral: NeutralCaptureOptions = NeutralCaptureOptions()
    steps: tuple[GuidedStep, ...] = ()   # guided expression steps after the neutral (in order)
    step_seconds: float = 2.0            # frames recorded per guided step
    lead_in_seconds: float = 1.0         # live only: time to follow an instruction, not recorded
    timeout_s: float = 30.0              # live only: give up when the neutral is not captured
    read_timeout_s: float = 2.0          # live only: no frame for this long → camera error
    sensitivity: float = 1.0
    tracker: TrackerOptions = field(default_factory=TrackerOptions)


@dataclass(frozen=True)
class CalibrationOutcome:
    profile: CalibrationProfile
    steps: tuple[StepResult, ...]
    frames_read: int


def _frame_time(source: FrameSource, frame) -> float:
    return frame.capture_time if source.is_live else frame.index / source.info.fps


def run_calibration(source: FrameSource, options: CalibrationOptions = CalibrationOptions(),
                    say: Callable[[str], None] = lambda message: None,
                    source_name: str = "") -> CalibrationOutcome:
    """Calibrate from ``source``; ``say`` receives instructions and feedback (changes only)."""
    capture = NeutralCapture(options.neutral)
    last_message: str | None = None
    last_problem: object = object()
    frames_read = 0
    started = time.monotonic()
    step_results: list[StepResult] = []

    def tell(message: str) -> None:
        nonlocal last_message
        if message != last_message:
            say(message)
            last_message = message

    with FaceTracker(options.tracker) as tracker:
        frames = _frames(source, options)
        tell("Look straight at the camera with a relaxed face and hold still.")
        for frame in frames:
            frames_read += 1
            t = _frame_time(source, frame)
            face = tracker.track(frame.image, frame.index, frame.capture_time).face
            feedback = capture.feed(face, t)
            if capture.done:
                break
            if feedback.problem != last_problem:   # say each change once, not every frame
                tell(feedback.message)
                last_problem = feedback.problem
            if source.is_live and time.monotonic() - started > options.timeout_s:
                raise CalibrationError(_neutral_failure(capture, frames_read, live=True,
                                                        timeout=options.timeout_s))
        if not capture.done:
            raise CalibrationError(_neutral_failure(capture, frames_read, live=source.is_live))
        neutral = capture.result
        tell(f"Neutral face captured ({neutral.frames} frames, {neutral.seconds:.1f} s).")

        for step in options.steps:
            tell(step.instruction + ".")
            recorder = RangeCapture(step, neutral.points, neutral.blendshapes)
            step_start: float | None = None
            lead_in = options.lead_in_seconds if source.is_live else 0.0
            for frame in frames:
                frames_read += 1
                t = _frame_time(source, frame)
                step_start = t if step_start is None else step_start
                if t - step_start < lead_in:
                    continue
                face = tracker.track(frame.image, frame.index, frame.capture_time).face
                recorder.feed(face, canonicalize(face.landmarks_px).points if face else None)
                if t - step_start >= lead_in + options.step_seconds:
                    break
            result = recorder.result()
            step_results.append(result)
            tell(result.message)

    ranges, bs_ranges = combine_step_results(step_results)
    profile = CalibrationProfile(
        neutral_points=neutral.points, neutral_pose=neutral.pose,
        neutral_blendshapes=neutral.blendshapes, ranges=ranges, blendshape_ranges=bs_ranges,
        sensitivity=options.sensitivity, source=source_name,
        capture={"frames": neutral.frames, "frames_used": neutral.frames_used,
                 "seconds": round(neutral.seconds, 3), "jitter_cm": round(neutral.jitter_cm, 4)})
    return CalibrationOutcome(profile, tuple(step_results), frames_read)


def _frames(source: FrameSource, options: CalibrationOptions):
    """Frames until a file ends; a camera that delivers nothing raises ``CalibrationError``."""
    while True:
        frame = source.read(timeout=options.read_timeout_s if source.is_live else None)
        if frame is None:
            if source.finished or not source.is_live:
                return
            raise CalibrationError(
                f"the camera delivered no frame for {options.read_timeout_s:g} s. Check that no "
                "other program uses it, or use --source CLIP to calibrate from a video file.")
        yield frame


def _neutral_failure(capture: NeutralCapture, frames: int, live: bool, timeout: float = 0.0) -> str:
    problem = capture.most_common_problem
    count = capture.problem_counts.get(problem, 0) if problem else 0
    need = f"{capture.options.seconds:g} s"
    if frames == 0:
        return "no frames could be read from the source. Check the clip or the camera."
    if problem is None:
        where = f"within {timeout:g} s" if live else "before the clip ended"
        return (f"the neutral face was not captured {where}: the clip is shorter than the "
                f"{need} of still frames needed. Use a longer clip or a shorter --seconds.")
    advice = {
        NO_FACE: "make sure your face is visible and well lit",
        "turn towards the camera": "face the camera directly",
        "relax your face": "keep a neutral, relaxed expression",
        "hold still": "keep your head and face still",
    }.get(problem, "try again")
    where = f"in {timeout:g} s" if live else "in the clip"
    return (f"calibration failed: {problem} ({count} of {frames} frames {where}); "
            f"{need} of uninterrupted still, frontal, relaxed frames are needed — {advice}.")
