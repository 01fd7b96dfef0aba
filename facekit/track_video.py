"""Track every frame of a source and write an annotated video (the `track` command's job)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .draw import draw_face, draw_text, pose_text
from .sources import FrameSource
from .tracker import FaceTracker, TrackerOptions
from .video_writer import VideoFileWriter


@dataclass(frozen=True)
class TrackSummary:
    frames: int
    frames_with_face: int
    track_ms: np.ndarray  # per-frame tracker time

    @property
    def face_fraction(self) -> float:
        return self.frames_with_face / self.frames if self.frames else 0.0

    def percentiles(self) -> dict[str, float]:
        if not len(self.track_ms):
            return {}
        p50, p95, p99 = np.percentile(self.track_ms, [50, 95, 99])
        return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(self.track_ms.mean())}


def track_to_video(source: FrameSource, out: Path | None, tracker_options: TrackerOptions = TrackerOptions(),
                   max_frames: int | None = None, on_frame: Callable[[int], None] | None = None) -> TrackSummary:
    """Track ``source`` frame by frame; draw landmarks and head axes into ``out`` if given."""
    times: list[float] = []
    with_face = 0
    writer = None
    try:
        with FaceTracker(tracker_options) as tracker:
            while max_frames is None or len(times) < max_frames:
                frame = source.read(timeout=2.0)
                if frame is None:
                    if source.finished or not source.is_live:
                        break
                    continue
                result = tracker.track(frame.image, frame.index, frame.capture_time)
                times.append(result.elapsed_ms)
                if out is not None:
                    canvas = frame.image.copy()
                    if result.face is not None:
                        with_face += 1
                        draw_face(canvas, result.face)
                        lines = [f"face  {pose_text(result.face)}",
                                 f"jawOpen {result.face.blendshape('jawOpen'):.2f}  "
                                 f"smile {result.face.blendshape('mouthSmileLeft'):.2f}"]
                    else:
                        lines = ["no face"]
                    draw_text(canvas, lines + [f"track {result.elapsed_ms:.1f} ms"])
                    if writer is None:
                        writer = VideoFileWriter(out, source.info.fps, (canvas.shape[1], canvas.shape[0]))
                    writer.write(canvas)
                elif result.face is not None:
                    with_face += 1
                if on_frame is not None:
                    on_frame(len(times))
    finally:
        if writer is not None:
            writer.close()
    return TrackSummary(len(times), with_face, np.asarray(times, dtype=np.float64))
