"""The one check for numeric arrays read into profiles and target geometry."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentcam.facekit.errors import LatentcamError


def checked_array(value: Any, shape: tuple[int, ...], name: str, error: type[LatentcamError],
                  fix: str = "") -> np.ndarray:
    """``value`` as a read-only float32 array of ``shape`` with finite values, else ``error``
    naming ``name`` (and ending with ``fix``, what to do about it)."""
    tail = f". {fix}" if fix else ""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise error(f"{name} is not a numeric array{tail}") from None
    if arr.shape != shape:
        raise error(f"{name} has shape {arr.shape}, expected {shape}{tail}")
    if not np.all(np.isfinite(arr)):
        raise error(f"{name} contains NaN or infinite values{tail}")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr
