"""CLI: ``latentcam track``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("track")(track)


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
