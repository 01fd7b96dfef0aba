"""Dataset folders built with the project's own dataset builder (``latentcam prepare``) and the
real MediaPipe tracker."""

from __future__ import annotations

from pathlib import Path

from latentcam.latent.dataset import PrepareOptions, VideoSource, prepare


def build_dataset(video: Path, out: Path, size: int = 128, max_frames: int | None = None) -> Path:
    """``out`` in the dataset format, from the first ``max_frames`` faces of ``video``."""
    prepare(VideoSource(video), out, PrepareOptions(size=size, max_frames=max_frames), coverage=False)
    return out
