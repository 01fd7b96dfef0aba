"""``latentcam verify``'s library part: a file's Content Credentials and watermark, in one report."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from latentcam.facekit.errors import InputError
from latentcam.facekit.sources import SourceError, VideoFileSource

from .content_credentials import ManifestReport, read_manifest
from .watermark import Detection, WatermarkDetector, WatermarkError, WatermarkOptions

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class VerifyError(InputError, RuntimeError):
    """The file cannot be verified (missing, unreadable); the message says what to do."""


@dataclass(frozen=True)
class WatermarkReport:
    """The watermark over the frames checked."""

    frames_checked: int
    frames_found: int
    bundle_id: str | None           # hex; the id most frames carried (or the combined read)
    confidence: float               # median over frames where found, else over all frames
    combined: bool                  # found when the soft values of all frames are summed
    combined_confidence: float
    ids_seen: dict[str, int] = field(default_factory=dict)
    note: str | None = None         # why no frame was checked

    @property
    def found(self) -> bool:
        return self.frames_found > 0 or self.combined


@dataclass(frozen=True)
class VerifyReport:
    path: str
    kind: str                       # "image" or "video"
    manifest: ManifestReport
    watermark: WatermarkReport

    @property
    def found(self) -> bool:
        """A manifest (valid or tampered) or the watermark is there."""
        return self.manifest.state in ("valid", "tampered") or self.watermark.found

    def to_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "found": self.found,
                "manifest": self.manifest.to_dict(),
                "watermark": {**asdict(self.watermark), "found": self.watermark.found}}


def _frames(path: Path, max_frames: int):
    """(kind, iterator of BGR frames); at most ``max_frames`` spread over a video."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VerifyError(f"cannot decode image {path}: damaged, or not the format its name says")
        return "image", iter([image])
    try:
        source = VideoFileSource(path)
    except SourceError as exc:
        raise VerifyError(str(exc)) from exc
    count = source.info.frame_count or 0
    step = max(1, count // max_frames) if count > 0 else 1

    def frames():
        with source:
            taken = 0
            while taken < max_frames and (frame := source.read()) is not None:
                if frame.index % step == 0:
                    taken += 1
                    yield frame.image
    return "video", frames()


def check_watermark(frames, options: WatermarkOptions = WatermarkOptions()) -> WatermarkReport:
    """Detect in each frame and in the sum of all frames' soft values.

    Frames lower than the mark's chip rows cannot carry it and are not counted; raises
    ``VerifyError`` when there is no frame at all.
    """
    detector = WatermarkDetector(options)
    detections: list[Detection] = []
    total = None
    read = 0
    for frame in frames:
        read += 1
        if frame.shape[0] < options.rows:
            continue
        z = detector.soft_bits(frame)
        total = z if total is None else total + z
        detections.append(detector.decode(z))
    if not read:
        raise VerifyError("no frame could be decoded: the file is damaged or truncated")
    if not detections:
        return WatermarkReport(0, 0, None, 0.0, False, 0.0, note="the frames are too small to carry the mark")
    combined = detector.decode(total / np.sqrt(len(detections)))
    ids = Counter(d.bundle_id_hex for d in detections if d.found)
    found = [d for d in detections if d.found]
    bundle_id = ids.most_common(1)[0][0] if ids else combined.bundle_id_hex
    confidence = float(np.median([d.confidence for d in (found or detections)]))
    return WatermarkReport(len(detections), len(found), bundle_id, confidence, combined.found,
                           combined.confidence, dict(ids))


def verify_file(path: Path | str, *, max_frames: int = 300,
                options: WatermarkOptions = WatermarkOptions()) -> VerifyReport:
    """C2PA manifest and watermark of an image or video; raises ``VerifyError`` for unreadable files."""
    path = Path(path)
    if not path.exists():
        raise VerifyError(f"file not found: {path}")
    if not path.is_file():
        raise VerifyError(f"not a file: {path}")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise VerifyError(f"cannot read {path} ({exc.strerror or exc})") from exc
    manifest = read_manifest(path)
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    try:
        kind, frames = _frames(path, max_frames)
        watermark = check_watermark(frames, options)
    except WatermarkError as exc:   # e.g. an aspect ratio beyond 4:1
        raise VerifyError(f"{path}: {exc}") from exc
    except VerifyError as exc:
        if manifest.state not in ("valid", "tampered"):
            raise VerifyError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from exc
        # A signed file whose pixels no longer decode: the manifest still speaks.
        watermark = WatermarkReport(0, 0, None, 0.0, False, 0.0, note=f"frames not decodable: {exc}")
    return VerifyReport(str(path), kind, manifest, watermark)
