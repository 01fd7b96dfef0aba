"""Calibration profiles: a driver's neutral face and expression ranges as small, versioned JSON.

A profile is only valid for the landmark model it was captured with (landmark positions differ
between models), so it records the sha256 of ``facekit``'s face model and loading rejects any
other. Loading validates everything and names what is wrong and what to do.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from latentcam.facekit.errors import InputError
from latentcam.facekit.blendshapes import GROUPS, NUM_BLENDSHAPES
from latentcam.facekit.landmarks import NUM_LANDMARKS
from latentcam.facekit.model_file import FACE_MODEL_SHA256

from .arrays import checked_array
from .measures import MEASURES

PROFILE_FORMAT = "latentcam-calibration-profile"
PROFILE_VERSION = 1
SENSITIVITY_RANGE = (0.25, 4.0)

_KEYS = {"format", "version", "landmark_model", "created", "source", "neutral", "ranges",
         "blendshape_ranges", "sensitivity", "capture"}
_NEUTRAL_KEYS = {"points", "pose", "blendshapes"}
_RECALIBRATE = "Run `latentcam calibrate --out PROFILE.json` to make a new profile."


class ProfileError(InputError, ValueError):
    """A calibration profile cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class CalibrationProfile:
    """A driver's calibration.

    neutral_points:      (478, 3) float32 canonical-frame landmarks of the relaxed face (cm).
    neutral_pose:        (3,) yaw/pitch/roll degrees while looking at the camera.
    neutral_blendshapes: (52,) resting blendshape scores.
    ranges:              widest expression per measure (``calibration.measures``), from the
                         guided steps; empty without them.
    blendshape_ranges:   widest score (above neutral) per ``facekit.blendshapes.GROUPS`` name.
    sensitivity:         global gain on expression deviations (>1 for people with small
                         expressions).
    capture:             statistics of the capture (frames, seconds, motion), informational.
    """

    neutral_points: np.ndarray
    neutral_pose: np.ndarray
    neutral_blendshapes: np.ndarray
    ranges: Mapping[str, float] = field(default_factory=dict)
    blendshape_ranges: Mapping[str, float] = field(default_factory=dict)
    sensitivity: float = 1.0
    created: str = ""
    source: str = ""
    capture: Mapping[str, float] = field(default_factory=dict)
    landmark_model: str = FACE_MODEL_SHA256

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "neutral_points", _checked_array(self.neutral_points, (NUM_LANDMARKS, 3), "neutral.points"))
        set_(self, "neutral_pose", _checked_array(self.neutral_pose, (3,), "neutral.pose"))
        set_(self, "neutral_blendshapes",
             _checked_array(self.neutral_blendshapes, (NUM_BLENDSHAPES,), "neutral.blendshapes"))
        set_(self, "ranges", _checked_ranges(self.ranges, MEASURES, "ranges"))
        set_(self, "blendshape_ranges", _checked_ranges(self.blendshape_ranges, GROUPS, "blendshape_ranges"))
        if not isinstance(self.sensitivity, (int, float)) or not math.isfinite(self.sensitivity) or not (
                SENSITIVITY_RANGE[0] <= self.sensitivity <= SENSITIVITY_RANGE[1]):
            raise ProfileError(
                f"sensitivity {self.sensitivity!r} is outside {SENSITIVITY_RANGE[0]}..{SENSITIVITY_RANGE[1]}. "
                "Pick a value in that range (1.0 = as captured).")
        set_(self, "sensitivity", float(self.sensitivity))
        if not self.created:
            set_(self, "created", datetime.now(timezone.utc).replace(microsecond=0).isoformat())

    # --- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "landmark_model": self.landmark_model,
            "created": self.created,
            "source": self.source,
            "neutral": {
                "points": np.round(self.neutral_points.astype(np.float64), 5).tolist(),
                "pose": np.round(self.neutral_pose.astype(np.float64), 4).tolist(),
                "blendshapes": np.round(self.neutral_blendshapes.astype(np.float64), 5).tolist(),
            },
            "ranges": {k: round(float(v), 5) for k, v in self.ranges.items()},
            "blendshape_ranges": {k: round(float(v), 5) for k, v in self.blendshape_ranges.items()},
            "sensitivity": self.sensitivity,
            "capture": {k: float(v) for k, v in self.capture.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "profile") -> "CalibrationProfile":
        """Validate a decoded JSON object; raises ``ProfileError`` naming the problem."""
        if not isinstance(data, dict):
            raise ProfileError(f"{where}: expected a JSON object, got {type(data).__name__}. {_RECALIBRATE}")
        fmt = data.get("format")
        if fmt != PROFILE_FORMAT:
            raise ProfileError(
                f"{where} is not a latentcam calibration profile (format {fmt!r}, expected "
                f"{PROFILE_FORMAT!r}). Pass a file written by `latentcam calibrate`.")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ProfileError(f"{where}: version {version!r} is not an integer. {_RECALIBRATE}")
        if version > PROFILE_VERSION:
            raise ProfileError(
                f"{where} has profile version {version}, newer than this latentcam understands "
                f"({PROFILE_VERSION}). Upgrade latentcam or recalibrate with this version.")
        if version < 1:
            raise ProfileError(f"{where}: unsupported profile version {version}. {_RECALIBRATE}")
        model = data.get("landmark_model")
        if model != FACE_MODEL_SHA256:
            raise ProfileError(
                f"{where} was made for another landmark model (sha256 {str(model)[:16]}…, this "
                f"latentcam uses {FACE_MODEL_SHA256[:16]}…): its landmarks do not match. {_RECALIBRATE}")
        unknown = set(data) - _KEYS
        if unknown:
            raise ProfileError(f"{where}: unknown keys {sorted(unknown)}. {_RECALIBRATE}")
        missing = {"neutral"} - set(data)
        if missing:
            raise ProfileError(f"{where}: missing {sorted(missing)}. {_RECALIBRATE}")
        neutral = data["neutral"]
        if not isinstance(neutral, dict) or set(neutral) != _NEUTRAL_KEYS:
            got = sorted(neutral) if isinstance(neutral, dict) else type(neutral).__name__
            raise ProfileError(
                f"{where}: 'neutral' must hold exactly {sorted(_NEUTRAL_KEYS)}, got {got}. {_RECALIBRATE}")
        try:
            return cls(
                neutral_points=_json_array(neutral["points"], "neutral.points", where),
                neutral_pose=_json_array(neutral["pose"], "neutral.pose", where),
                neutral_blendshapes=_json_array(neutral["blendshapes"], "neutral.blendshapes", where),
                ranges=_json_mapping(data.get("ranges", {}), "ranges", where),
                blendshape_ranges=_json_mapping(data.get("blendshape_ranges", {}), "blendshape_ranges", where),
                sensitivity=data.get("sensitivity", 1.0),
                created=str(data.get("created", "")),
                source=str(data.get("source", "")),
                capture=_json_mapping(data.get("capture", {}), "capture", where),
                landmark_model=model,
            )
        except ProfileError as exc:
            msg = str(exc)
            raise ProfileError(msg if msg.startswith(where) else f"{where}: {msg}") from None

    def save(self, path: Path | str) -> Path:
        """Write the profile as JSON (atomically: a temporary file renamed into place)."""
        path = Path(path)
        if path.parent and not path.parent.exists():
            raise ProfileError(f"cannot write {path}: folder {path.parent} does not exist. Create it first.")
        tmp = path.with_name(path.name + ".tmp")
        text = json.dumps(self.to_dict(), indent=1)
        # One line per point (innermost lists) keeps the file small and still readable.
        text = re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "CalibrationProfile":
        path = Path(path)
        if not path.is_file():
            raise ProfileError(f"calibration profile not found: {path}. {_RECALIBRATE}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ProfileError(f"{path} is not a text (JSON) file. {_RECALIBRATE}") from None
        except json.JSONDecodeError as exc:
            raise ProfileError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the "
                f"file is damaged or was edited by hand. {_RECALIBRATE}") from None
        return cls.from_dict(data, where=str(path))

    def with_sensitivity(self, sensitivity: float) -> "CalibrationProfile":
        from dataclasses import replace
        return replace(self, sensitivity=sensitivity)


def _checked_array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    return checked_array(value, shape, name, ProfileError, _RECALIBRATE)


def _json_array(value: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(value, list):
        raise ProfileError(f"{where}: {name} must be a list of numbers. {_RECALIBRATE}")
    return value  # shape and finiteness are checked by CalibrationProfile


def _json_mapping(value: Any, name: str, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
        raise ProfileError(f"{where}: {name} must map names to numbers. {_RECALIBRATE}")
    return {str(k): float(v) for k, v in value.items()}


def _checked_ranges(value: Mapping[str, float], known: Mapping[str, Any], name: str) -> dict[str, float]:
    out = {}
    for key, v in dict(value).items():
        if key not in known:
            raise ProfileError(f"{name}: unknown entry {key!r}; known: {sorted(known)}. {_RECALIBRATE}")
        if not math.isfinite(v) or v < 0:
            raise ProfileError(f"{name}.{key} must be a finite number >= 0, got {v}. {_RECALIBRATE}")
        out[key] = float(v)
    return out
