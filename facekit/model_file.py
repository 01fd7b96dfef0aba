"""The bundled MediaPipe models (face landmarker, hand landmarker) and their integrity check."""

from __future__ import annotations

import hashlib
from pathlib import Path
from .errors import LatentcamError

FACE_MODEL_PATH = Path(__file__).resolve().parent / "models" / "face_landmarker.task"
FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
FACE_MODEL_SIZE = 3_758_596
HAND_MODEL_PATH = Path(__file__).resolve().parent / "models" / "hand_landmarker.task"
HAND_MODEL_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
HAND_MODEL_SIZE = 7_819_105


class ModelFileError(LatentcamError, RuntimeError):
    """A bundled model file is missing, truncated or not the expected file."""


def verify_face_model(path: Path | str = FACE_MODEL_PATH,
                      sha256: str = FACE_MODEL_SHA256, size: int | None = FACE_MODEL_SIZE,
                      what: str = "face model") -> bytes:
    """Read the model file, check its size and sha256, and return its bytes.

    Raises ``ModelFileError`` naming the file (``what`` it is) and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"{what} not found: {path}. Reinstall latentcam (the model ships inside the "
            "package; nothing is downloaded at run time).")
    data = path.read_bytes()
    if size is not None and len(data) != size:
        raise ModelFileError(
            f"{what} {path} has {len(data):,} bytes, expected {size:,} (truncated or "
            "replaced). Reinstall latentcam to restore the original file.")
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelFileError(
            f"{what} {path} failed its integrity check (sha256 {digest[:16]}…, expected "
            f"{sha256[:16]}…). The file was modified or corrupted; reinstall latentcam.")
    return data


def verify_hand_model(path: Path | str = HAND_MODEL_PATH, sha256: str = HAND_MODEL_SHA256,
                      size: int | None = HAND_MODEL_SIZE) -> bytes:
    """``verify_face_model`` for the bundled hand landmarker."""
    return verify_face_model(path, sha256, size, what="hand model")
