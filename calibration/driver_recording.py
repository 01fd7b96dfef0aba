"""Record a driver clip of the user: a guided minute in front of the camera.

A one-photo target learns its expressions from driver clips (``latent.photo``). Without the
sample clips, the user's own face serves: ``latentcam prepare --photo FACE.jpg
--drivers-camera`` records them while the terminal prompts a sequence of expressions — the
same guided steps as ``latentcam calibrate --guided`` (``ranges.GUIDED_STEPS``), framed by a
relaxed face, a slow head turn and free talking. The clip is written to a hidden temporary file
and renamed when complete, so an interrupted recording leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from latentcam.facekit.sources import FrameSource
from latentcam.facekit.video_writer import VideoFileWriter

from .ranges import GUIDED_STEPS, GuidedStep
from .session import CalibrationError


@dataclass(frozen=True)
class DriverRecordingOptions:
    lead_in_seconds: float = 3.0     # "get ready" before anything is recorded
    neutral_seconds: float = 6.0     # a relaxed face first (the driver's own neutral is found in it)
    step_seconds: float = 5.0        # each guided step
    relax_seconds: float = 2.0       # back to a relaxed face after each step
    turn_seconds: float = 8.0        # turn the head slowly left and right, up and down
    free_seconds: float = 8.0        # talk and laugh as in a call
    steps: tuple[GuidedStep, ...] = GUIDED_STEPS
    read_timeout_s: float = 2.0      # no frame for this long → a camera error

    def schedule(self) -> list[tuple[str, float]]:
        """(prompt, seconds) in order: 58 s with the defaults."""
        plan = [("Look at the camera with a relaxed face", self.neutral_seconds)]
        for step in self.steps:
            plan.append((step.instruction, self.step_seconds))
            plan.append(("Relax your face", self.relax_seconds))
        plan.append(("Turn your head slowly left and right, then up and down", self.turn_seconds))
        plan.append(("Talk and laugh as you would in a call", self.free_seconds))
        return [(prompt, seconds) for prompt, seconds in plan if seconds > 0]

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.schedule())


@dataclass(frozen=True)
class DriverRecording:
    path: Path
    frames: int
    seconds: float


def record_driver_clip(source: FrameSource, out: Path,
                       options: DriverRecordingOptions = DriverRecordingOptions(),
                       say: Callable[[str], None] = lambda message: None) -> DriverRecording:
    """Record ``source`` (a live camera) into ``out`` (.mp4) while ``say`` prompts each step."""
    out = Path(out)
    plan = options.schedule()
    tmp = out.with_name(f".{out.stem}.recording{out.suffix}")
    fps = source.info.fps or 30.0
    say(f"Recording about {options.seconds:.0f} s of your expressions from {source.info.name}; "
        f"follow the prompts. Starting in {options.lead_in_seconds:g} s.")
    frames = 0
    try:
        writer: VideoFileWriter | None = None
        lead_in_end = time.monotonic() + options.lead_in_seconds
        while time.monotonic() < lead_in_end:
            _read(source, options)
        started = time.monotonic()
        for i, (prompt, seconds) in enumerate(plan, 1):
            say(f"[{i}/{len(plan)}] {prompt} ({seconds:g} s)")
            step_end = time.monotonic() + seconds
            while time.monotonic() < step_end:
                frame = _read(source, options)
                if writer is None:
                    height, width = frame.image.shape[:2]
                    writer = VideoFileWriter(tmp, fps, (width, height))
                writer.write(frame.image)
                frames += 1
        elapsed = time.monotonic() - started
        if writer is None:
            raise CalibrationError("the camera delivered no frame while recording.")
        writer.close()
        tmp.replace(out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    say(f"Recorded {frames} frames ({elapsed:.0f} s) into {out}.")
    return DriverRecording(out, frames, elapsed)


def _read(source: FrameSource, options: DriverRecordingOptions):
    frame = source.read(timeout=options.read_timeout_s)
    if frame is None:
        raise CalibrationError(
            f"the camera delivered no frame for {options.read_timeout_s:g} s. Check that no other "
            "program uses it, or pass recorded clips with --drivers CLIP.")
    return frame
