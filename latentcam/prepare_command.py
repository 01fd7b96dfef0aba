"""``latentcam prepare``: build a target dataset from a video or from one photo.

It lives in the top-level app layer, not in ``latent/``, because a one-photo target may take its
driver clip from a guided camera recording (``calibration.driver_recording``), and ``latent``
must not import calibration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _progress_bar(description: str):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn())


def register(app: typer.Typer) -> None:
    """Add ``prepare`` to ``app``."""
    app.command("prepare")(prepare_command)


def prepare_command(
    target_video: Optional[Path] = typer.Argument(
        None, help="Video of the target person (one face, well lit, varied expressions)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (resumable)."),
    photo: Optional[Path] = typer.Option(
        None, "--photo", help="Build from one portrait photo instead of a video."),
    drivers: Optional[list[Path]] = typer.Option(
        None, "--drivers", help="With --photo: driver clip(s) whose tracked expressions and head "
        "turns are transferred to the photo (repeat the option). Default: the sample clips "
        "single_face.mp4 and WolfgangLanger_Pexels.mp4 (`latentcam samples`)."),
    drivers_camera: bool = typer.Option(
        False, "--drivers-camera", help="With --photo: record your own expressions from the camera "
        "for a guided minute (the `calibrate --guided` prompts) and use that as the driver clip."),
    camera: int = typer.Option(0, "--camera", help="With --drivers-camera: the camera index."),
    size: int = typer.Option(256, "--size", help="Crop side in pixels."),
    every: int = typer.Option(1, "--every", help="Video: keep every N-th frame."),
    max_frames: Optional[int] = typer.Option(
        None, "--max-frames", help="Stop after this many kept frames."),
    frames: int = typer.Option(
        480, "--frames", help="With --photo: number of synthetic frames to generate."),
    seed: int = typer.Option(0, "--seed", help="With --photo: random seed."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing dataset in --out."),
) -> None:
    """Track a target video (or synthesise from one photo) into aligned crops, masks,
    landmarks and a coverage report for training."""
    from latentcam.facekit.errors import InputError
    from latentcam.latent.dataset import PrepareOptions, VideoSource, prepare

    if (target_video is None) == (photo is None):
        raise InputError("give either a TARGET_VIDEO or --photo FACE.jpg (exactly one).")
    try:
        if photo is not None:
            from latentcam.latent.photo import PhotoOptions, PhotoSource, load_portrait

            options = PhotoOptions(frames=frames, seed=seed, crop_size=size)
            if options.frames < 1:
                raise InputError(f"--frames must be >= 1, got {frames}")
            portrait = load_portrait(photo, size)        # photo problems first, before any clip
            clips = _photo_drivers(drivers, drivers_camera, camera, out)
            source = PhotoSource(portrait, clips, options)
            label = f"synthesising {photo.name}"
        else:
            if drivers or drivers_camera:
                raise InputError("--drivers and --drivers-camera only apply with --photo.")
            source = VideoSource(target_video, every=every)
            label = f"tracking {target_video.name}"
        options = PrepareOptions(size=size, max_frames=max_frames, force=force)
        with _progress_bar(label) as bar:
            task = bar.add_task(label, total=source.count())

            def on_progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = prepare(source, out, options, progress=on_progress)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the work done so far is kept in {out}; run the same "
                   "command again to continue.", err=True)
        raise typer.Exit(130) from None
    if result.processed_now == 0 and result.resumed:
        typer.echo(f"{out}: already prepared ({result.frames} frames); nothing to do.")
    else:
        typer.echo(f"{out}: {result.frames} frames kept, {result.skipped_no_face} without a "
                   f"face skipped{' (resumed)' if result.resumed else ''}.")
    typer.echo(result.coverage_text)
    typer.echo(f"coverage plot: {out / 'coverage.png'}")


def _photo_drivers(drivers: Optional[list[Path]], drivers_camera: bool, camera: int,
                   out: Path) -> list[Path]:
    """The driver clips for --photo, in this order of choice: --drivers, --drivers-camera, the
    sample clips; says which it uses."""
    from latentcam.facekit.errors import InputError

    if drivers and drivers_camera:
        raise InputError("give --drivers CLIP or --drivers-camera, not both.")
    if drivers:
        missing = [str(d) for d in drivers if not d.is_file()]
        if missing:
            raise InputError(f"driver clip not found: {', '.join(missing)}. Check the path.")
        typer.echo(f"drivers: your clips {', '.join(str(d) for d in drivers)}")
        return list(drivers)
    if drivers_camera:
        clip = record_camera_driver(camera, out.parent / f"{out.name}-driver.mp4")
        typer.echo(f"drivers: recorded from camera {camera} ({clip}; reuse it with --drivers {clip})")
        return [clip]
    from latentcam.latent.photo import default_driver_clips

    clips = default_driver_clips()
    folders = sorted({str(c.parent) for c in clips})
    typer.echo(f"drivers: the sample clips {', '.join(c.name for c in clips)} from {', '.join(folders)}")
    return clips


def record_camera_driver(camera: int, path: Path, options=None, open_camera=None) -> Path:
    """A guided recording of the user from camera ``camera`` into ``path`` (``open_camera``:
    index → FrameSource, the real camera when None)."""
    from latentcam.calibration.driver_recording import DriverRecordingOptions, record_driver_clip
    from latentcam.facekit.errors import InputError
    from latentcam.facekit.sources import SourceError, open_source

    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist; create it first.")
    opener = open_camera or open_source
    try:
        try:
            source = opener(camera)
        except SourceError as exc:
            raise SourceError(str(exc).replace("use --source CLIP to drive from a video file",
                                               "pass recorded clips with --drivers CLIP"),
                              hint=exc.hint) from None
        with source:
            record_driver_clip(source, path, options or DriverRecordingOptions(),
                               say=lambda m: typer.echo(f"  {m}"))
    except KeyboardInterrupt:
        typer.echo("recording cancelled; nothing was kept.", err=True)
        raise typer.Exit(130) from None
    return path
