"""CLI commands of this subpackage (registered by latentcam.cli): ``latentcam calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this subpackage's commands to ``app``."""
    app.command("calibrate")(calibrate)


def calibrate(
    out: Path = typer.Option(..., "--out", "-o", help="Profile file to write (JSON)."),
    camera: Optional[int] = typer.Option(None, "--camera", help="Camera index (default 0 when no --source)."),
    source: Optional[Path] = typer.Option(None, "--source", help="Calibrate from a video clip instead of a camera."),
    guided: bool = typer.Option(False, "--guided", help="After the neutral face, measure your expression "
                                "ranges: open mouth, smile, raise brows, close eyes, look left/right."),
    steps: Optional[str] = typer.Option(None, "--steps", help="Comma-separated guided steps to run "
                                        "(implies --guided), e.g. 'smile,open_mouth'."),
    seconds: float = typer.Option(2.0, "--seconds", min=0.1, help="Length of the still neutral window."),
    step_seconds: float = typer.Option(2.0, "--step-seconds", min=0.1, help="Seconds recorded per guided step."),
    sensitivity: float = typer.Option(1.0, "--sensitivity", min=0.25, max=4.0,
                                      help="Gain on your expressions (>1 if they look too small on the target)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1.0, help="Camera only: give up after this many seconds."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing profile."),
) -> None:
    """Capture your neutral face (and optionally expression ranges) into a calibration profile."""
    from latentcam.facekit.errors import InputError
    from latentcam.facekit.sources import open_source

    from .neutral import NeutralCaptureOptions
    from .ranges import GUIDED_STEPS, steps_by_name
    from .session import CalibrationOptions, run_calibration

    if camera is not None and source is not None:
        raise InputError("give either --camera N or --source CLIP, not both.")
    if out.exists() and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it.")
    if not out.parent.exists():
        raise InputError(f"folder {out.parent} does not exist; create it first.")
    try:
        chosen = steps_by_name([s.strip() for s in steps.split(",") if s.strip()]) if steps else (
            GUIDED_STEPS if guided else ())
    except ValueError as exc:
        raise InputError(str(exc)) from None
    spec = str(source) if source is not None else (camera if camera is not None else 0)
    name = source.name if source is not None else f"camera {spec}"
    options = CalibrationOptions(neutral=NeutralCaptureOptions(seconds=seconds), steps=chosen,
                                 step_seconds=step_seconds, timeout_s=timeout, sensitivity=sensitivity)
    try:
        with open_source(spec) as frames:
            outcome = run_calibration(frames, options, say=lambda m: typer.echo(f"  {m}"), source_name=name)
    except KeyboardInterrupt:
        typer.echo("calibration cancelled; no profile written.", err=True)
        raise typer.Exit(130) from None
    outcome.profile.save(out)
    p = outcome.profile
    typer.echo(f"wrote {out}: neutral from {int(p.capture['frames'])} frames "
               f"(yaw {p.neutral_pose[0]:+.1f}°, pitch {p.neutral_pose[1]:+.1f}°, roll {p.neutral_pose[2]:+.1f}°)"
               + (f", ranges: {', '.join(f'{k} {v:.2f}' for k, v in p.ranges.items())}" if p.ranges else ""))
