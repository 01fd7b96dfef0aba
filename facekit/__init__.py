"""Base layer: face tracking (MediaPipe), face geometry and frame sources.

Imports nothing else from latentcam; every other subpackage builds on it.
"""

from .blendshapes import BLENDSHAPE_NAMES, NUM_BLENDSHAPES
from .model_file import (FACE_MODEL_PATH, HAND_MODEL_PATH, ModelFileError, verify_face_model,
                         verify_hand_model)
from .observation import FaceObservation, TrackResult

__all__ = [
    "BLENDSHAPE_NAMES", "NUM_BLENDSHAPES", "FACE_MODEL_PATH", "HAND_MODEL_PATH", "ModelFileError",
    "verify_face_model", "verify_hand_model", "FaceObservation", "TrackResult",
]
