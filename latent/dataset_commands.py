"""``latentcam prepare``: build a target dataset from a video or from one photo."""

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

    @app.command("prepare")
    def prepare_command(
        target_video: Optional[Path] = typer.Argument(
            None, help="Video of the target person (one face, well lit, varied expressions)."),
        out: Path = typer.Option(..., "--out", help="Dataset folder to write (resumable)."),
        photo: Optional[Path] = typer.Option(
            None, "--photo", help="Build from one portrait photo instead of a video."),
        drivers: Optional[list[Path]] = typer.Option(
            None, "--drivers", help="With --photo: driver clip(s) whose tracked expressions "
            "and head turns are transferred to the photo (repeat the option). Default: the "
            "sample clips single_face.mp4 and WolfgangLanger_Pexels.mp4."),
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

        from .dataset import PrepareOptions, VideoSource, prepare

        if (target_video is None) == (photo is None):
            raise InputError("give either a TARGET_VIDEO or --photo FACE.jpg (exactly one).")
        try:
            if photo is not None:
                from .photo import PhotoOptions, PhotoSource, default_driver_clips

                clips = list(drivers) if drivers else default_driver_clips()
                source = PhotoSource(photo, clips, PhotoOptions(frames=frames, seed=seed))
                label = f"synthesising {photo.name}"
            else:
                if drivers:
                    raise InputError("--drivers only applies with --photo.")
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
