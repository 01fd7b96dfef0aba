"""``FaceTracker``: MediaPipe Tasks FaceLandmarker → typed ``TrackResult`` per frame."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from .blendshapes import BLENDSHAPE_NAMES, NUM_BLENDSHAPES
from .landmarks import NUM_LANDMARKS
from .model_file import FACE_MODEL_PATH, FACE_MODEL_SHA256, FACE_MODEL_SIZE, verify_face_model
from .observation import FaceObservation, TrackResult


class TrackingMode(Enum):
    VIDEO = "video"   # consecutive frames of one stream; tracks between frames (fast)
    IMAGE = "image"   # independent still images; detects every time


@dataclass(frozen=True)
class TrackerOptions:
    mode: TrackingMode = TrackingMode.VIDEO
    max_faces: int = 2                  # >1 so a second face cannot steal the track
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    model_path: Path = FACE_MODEL_PATH
    model_sha256: str = FACE_MODEL_SHA256
    model_size: int | None = FACE_MODEL_SIZE
    quiet_native_logs: bool = True      # hide MediaPipe's start-up INFO/WARNING lines on stderr


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool):
    """Point file descriptor 2 at the null device while MediaPipe's graph starts.

    MediaPipe's C++ side logs start-up notices through absl straight to fd 2 (no environment
    variable silences them). Failures still surface as Python exceptions.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _LandmarkerRun:
    """One MediaPipe vision landmarker (face or hands) run on BGR frames — what both trackers
    share: the frame check, BGR → RGB, strictly increasing integer timestamps in VIDEO mode,
    native start-up logs silenced until the first inference has run, and close-once."""

    def __init__(self, create, mode: TrackingMode, quiet_native_logs: bool, name: str):
        with _native_stderr_silenced(quiet_native_logs):
            self._landmarker = create()
        self._video = mode is TrackingMode.VIDEO
        self._warm = not quiet_native_logs      # the first inference logs too
        self._last_timestamp_ms = -1
        self._name = name
        self._closed = False

    def detect(self, frame_bgr: np.ndarray, capture_time: float):
        """The landmarker's raw result for one HxWx3 uint8 BGR frame (``capture_time`` in s)."""
        if self._closed:
            raise ValueError(f"{self._name} is closed")
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            shape = None if frame_bgr is None else (frame_bgr.shape, frame_bgr.dtype)
            raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {shape}")
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB,
                         data=np.ascontiguousarray(frame_bgr[:, :, ::-1]))
        with _native_stderr_silenced(not self._warm):
            if self._video:
                # VIDEO mode needs strictly increasing integer timestamps.
                ts = max(int(round(capture_time * 1000.0)), self._last_timestamp_ms + 1)
                self._last_timestamp_ms = ts
                result = self._landmarker.detect_for_video(image, ts)
            else:
                result = self._landmarker.detect(image)
        self._warm = True
        return result

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._landmarker.close()


def _bbox(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Tracks one face through a stream of BGR frames.

    Use as a context manager (the MediaPipe graph holds native resources)::

        with FaceTracker() as tracker:
            result = tracker.track(frame_bgr, frame_index=i, capture_time=t)

    With several faces in view, the face that overlaps the previous frame's face most is kept;
    without a previous face, the largest.
    """

    def __init__(self, options: TrackerOptions = TrackerOptions()):
        self.options = options
        model_bytes = verify_face_model(options.model_path, options.model_sha256, options.model_size)
        # Imported here so that importing latentcam does not load MediaPipe's native graph.
        from mediapipe.tasks.python import BaseOptions, vision

        running_mode = (vision.RunningMode.VIDEO if options.mode is TrackingMode.VIDEO
                        else vision.RunningMode.IMAGE)
        task_options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model_bytes),
            running_mode=running_mode,
            num_faces=options.max_faces,
            min_face_detection_confidence=options.min_detection_confidence,
            min_face_presence_confidence=options.min_presence_confidence,
            min_tracking_confidence=options.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._run = _LandmarkerRun(lambda: vision.FaceLandmarker.create_from_options(task_options),
                                   options.mode, options.quiet_native_logs, "FaceTracker")
        self._previous_bbox: tuple[float, float, float, float] | None = None

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._run.close()

    def reset(self) -> None:
        """Forget the current track (the next frame picks the largest face)."""
        self._previous_bbox = None

    def faces(self, frame_bgr: np.ndarray, capture_time: float = 0.0) -> list[FaceObservation]:
        """Every face the model finds in one frame (up to ``max_faces``), largest first; the
        track is not touched (for checking a photo, not for following a stream)."""
        faces = self._convert(self._run.detect(frame_bgr, capture_time), frame_bgr.shape[1],
                              frame_bgr.shape[0])
        return sorted(faces, key=lambda f: f.bbox_area, reverse=True)

    def track(self, frame_bgr: np.ndarray, frame_index: int = 0,
              capture_time: float | None = None) -> TrackResult:
        """Track the face in one BGR uint8 frame. ``capture_time`` is a monotonic stamp (s)."""
        if capture_time is None:
            capture_time = time.monotonic()
        start = time.perf_counter()
        result = self._run.detect(frame_bgr, capture_time)
        faces = self._convert(result, frame_bgr.shape[1], frame_bgr.shape[0])
        face = self._choose(faces)
        self._previous_bbox = face.bbox if face is not None else None
        elapsed = (time.perf_counter() - start) * 1000.0
        return TrackResult(frame_index, capture_time, face, len(faces), elapsed)

    @staticmethod
    def _convert(result, width: int, height: int) -> list[FaceObservation]:
        faces = []
        for i, landmarks in enumerate(result.face_landmarks):
            norm = np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float32)
            if norm.shape[0] != NUM_LANDMARKS:
                continue
            px = norm * np.array([width, height, width], dtype=np.float32)
            scores = np.zeros(NUM_BLENDSHAPES, dtype=np.float32)
            if result.face_blendshapes and i < len(result.face_blendshapes):
                for j, cat in enumerate(result.face_blendshapes[i]):
                    name = cat.category_name
                    k = BLENDSHAPE_NAMES.index(name) if name in BLENDSHAPE_NAMES else j
                    scores[k] = cat.score
            transform = np.eye(4, dtype=np.float32)
            if result.facial_transformation_matrixes and i < len(result.facial_transformation_matrixes):
                transform = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32)
            faces.append(FaceObservation(px, norm, scores, transform, _bbox(px), (width, height)))
        return faces

    def _choose(self, faces: list[FaceObservation]) -> FaceObservation | None:
        if not faces:
            return None
        if self._previous_bbox is not None:
            best = max(faces, key=lambda f: _iou(f.bbox, self._previous_bbox))
            if _iou(best.bbox, self._previous_bbox) > 0.1:
                return best
        return max(faces, key=lambda f: f.bbox_area)
