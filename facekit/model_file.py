"""The bundled MediaPipe face model and its integrity check."""

from __future__ import annotations

import hashlib
from pathlib import Path
from .errors import LatentcamError

FACE_MODEL_PATH = Path(__file__).resolve().parent / "models" / "face_landmarker.task"
FACE_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
FACE_MODEL_SIZE = 3_758_596


class ModelFileError(LatentcamError, RuntimeError):
    """The face model file is missing, truncated or not the expected file."""


def verify_face_model(path: Path | str = FACE_MODEL_PATH,
                      sha256: str = FACE_MODEL_SHA256, size: int | None = FACE_MODEL_SIZE) -> bytes:
    """Read the model file, check its size and sha256, and return its bytes.

    Raises ``ModelFileError`` naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"face model not found: {path}. Reinstall latentcam (the model ships inside the "
            "package; nothing is downloaded at run time).")
    data = path.read_bytes()
    if size is not None and len(data) != size:
        raise ModelFileError(
            f"face model {path} has {len(data):,} bytes, expected {size:,} (truncated or "
            "replaced). Reinstall latentcam to restore the original file.")
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelFileError(
            f"face model {path} failed its integrity check (sha256 {digest[:16]}…, expected "
            f"{sha256[:16]}…). The file was modified or corrupted; reinstall latentcam.")
    return data
