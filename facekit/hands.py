"""``HandTracker``: MediaPipe Tasks HandLandmarker → 21 landmarks (source pixels) per hand.

Used offline to find training frames where a hand covers the face (``latent/occlusion.py``);
the live path does not run it. The model ships with the package (``models/hand_landmarker.task``,
size and sha256 checked at load, nothing downloaded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model_file import HAND_MODEL_PATH, HAND_MODEL_SHA256, HAND_MODEL_SIZE, verify_hand_model
from .tracker import TrackingMode, _LandmarkerRun

NUM_HAND_LANDMARKS = 21


@dataclass(frozen=True)
class HandTrackerOptions:
    mode: TrackingMode = TrackingMode.VIDEO
    max_hands: int = 2
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    model_path: Path = HAND_MODEL_PATH
    model_sha256: str = HAND_MODEL_SHA256
    model_size: int | None = HAND_MODEL_SIZE
    quiet_native_logs: bool = True


@dataclass(frozen=True)
class HandsResult:
    """Hands found in one frame: ``landmarks_px`` (H, 21, 3) x, y in source pixels, z in
    MediaPipe's relative depth × width; H = 0 when no hand is in view."""

    landmarks_px: np.ndarray
    handedness: tuple[str, ...]
    elapsed_ms: float

    def __len__(self) -> int:
        return int(self.landmarks_px.shape[0])


class HandTracker:
    """Finds hands in a stream of BGR frames (a context manager, like ``FaceTracker``)::

        with HandTracker() as hands:
            result = hands.track(frame_bgr, capture_time=t)
    """

    def __init__(self, options: HandTrackerOptions = HandTrackerOptions()):
        self.options = options
        model = verify_hand_model(options.model_path, options.model_sha256, options.model_size)
        from mediapipe.tasks.python import BaseOptions, vision

        mode = (vision.RunningMode.VIDEO if options.mode is TrackingMode.VIDEO
                else vision.RunningMode.IMAGE)
        task_options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model), running_mode=mode,
            num_hands=options.max_hands,
            min_hand_detection_confidence=options.min_detection_confidence,
            min_hand_presence_confidence=options.min_presence_confidence,
            min_tracking_confidence=options.min_tracking_confidence)
        self._run = _LandmarkerRun(lambda: vision.HandLandmarker.create_from_options(task_options),
                                   options.mode, options.quiet_native_logs, "HandTracker")

    def __enter__(self) -> "HandTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._run.close()

    def track(self, frame_bgr: np.ndarray, capture_time: float | None = None) -> HandsResult:
        """Hands in one BGR uint8 frame; ``capture_time`` (s) must increase in VIDEO mode."""
        start = time.perf_counter()
        result = self._run.detect(frame_bgr, time.monotonic() if capture_time is None else capture_time)
        h, w = frame_bgr.shape[:2]
        hands = [np.array([(p.x * w, p.y * h, p.z * w) for p in marks], np.float32)
                 for marks in result.hand_landmarks if len(marks) == NUM_HAND_LANDMARKS]
        sides = tuple(c[0].category_name if c else "" for c in result.handedness[:len(hands)])
        pts = (np.stack(hands) if hands
               else np.zeros((0, NUM_HAND_LANDMARKS, 3), np.float32))
        return HandsResult(pts, sides, (time.perf_counter() - start) * 1000.0)
