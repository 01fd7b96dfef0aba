"""What the retargeter needs to know about the target: plain numpy values.

The live pipeline reads these from the target bundle's manifest (neutral canonical landmarks
and the head-pose range seen in the training data) and hands them over as ``TargetGeometry``;
this package never reads bundles itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from latentcam.facekit.errors import InputError
from latentcam.facekit.blendshapes import GROUPS, NUM_BLENDSHAPES
from latentcam.facekit.landmarks import NUM_LANDMARKS

from latentcam.facekit.rig import BlendshapeRig

from .arrays import checked_array
from .measures import MEASURES


class TargetGeometryError(InputError, ValueError):
    """The target geometry handed to the retargeter is malformed."""


def _array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    return checked_array(value, shape, f"target {name}", TargetGeometryError)


@dataclass(frozen=True)
class TargetGeometry:
    """The target person's neutral face and training range.

    neutral_points:      (478, 3) canonical-frame landmarks of the target's neutral face (cm).
    pose_min, pose_max:  (3,) yaw/pitch/roll degrees, the head-pose range of the training data.
    neutral_pose:        (3,) the target's neutral head pose (degrees).
    neutral_blendshapes: (52,) the target's resting blendshape scores (zeros when unknown).
    ranges:              optional widest expression per measure (``calibration.measures`` names,
                         e.g. {"smile": 0.9}); absent measures scale 1.0.
    blendshape_ranges:   optional widest score per ``facekit.blendshapes.GROUPS`` name.
    blendshape_rig:      optional lower-face rig (``facekit.rig``); None: landmark deltas only.
    """

    neutral_points: np.ndarray
    pose_min: np.ndarray
    pose_max: np.ndarray
    neutral_pose: np.ndarray
    neutral_blendshapes: np.ndarray | None = None
    ranges: Mapping[str, float] = field(default_factory=dict)
    blendshape_ranges: Mapping[str, float] = field(default_factory=dict)
    blendshape_rig: BlendshapeRig | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "neutral_points", _array("neutral_points", self.neutral_points, (NUM_LANDMARKS, 3)))
        set_(self, "pose_min", _array("pose_min", self.pose_min, (3,)))
        set_(self, "pose_max", _array("pose_max", self.pose_max, (3,)))
        set_(self, "neutral_pose", _array("neutral_pose", self.neutral_pose, (3,)))
        bs = (np.zeros(NUM_BLENDSHAPES) if self.neutral_blendshapes is None
              else self.neutral_blendshapes)
        set_(self, "neutral_blendshapes", _array("neutral_blendshapes", bs, (NUM_BLENDSHAPES,)))
        if self.blendshape_rig is not None and not isinstance(self.blendshape_rig, BlendshapeRig):
            raise TargetGeometryError(
                f"blendshape_rig must be a BlendshapeRig, got {type(self.blendshape_rig).__name__}")
        if np.any(self.pose_min > self.pose_max):
            raise TargetGeometryError(
                f"target pose range is inverted: min {self.pose_min.tolist()} > max "
                f"{self.pose_max.tolist()}")
        for name, value in self.ranges.items():
            if name not in MEASURES:
                raise TargetGeometryError(f"unknown target range {name!r}; known: {sorted(MEASURES)}")
            if not np.isfinite(value) or value < 0:
                raise TargetGeometryError(f"target range {name!r} must be a finite number >= 0")
        for name, value in self.blendshape_ranges.items():
            if name not in GROUPS:
                raise TargetGeometryError(
                    f"unknown target blendshape range {name!r}; known: {sorted(GROUPS)}")
            if not np.isfinite(value) or value < 0:
                raise TargetGeometryError(f"target blendshape range {name!r} must be >= 0")

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any],
                      blendshape_rig: BlendshapeRig | None = None) -> "TargetGeometry":
        """Build from a target bundle manifest (a plain dict; this package never imports latent)
        and the bundle's rig when it has one (``BlendshapeRig.load`` of its ``rig.safetensors``).

        Reads ``neutral_canonical`` (478×3) and ``pose_range`` ({"yaw"|"pitch"|"roll": [min, max]});
        optional ``neutral_pose`` ([yaw, pitch, roll]; default 0,0,0 clamped into the range),
        ``neutral_blendshapes`` (52), ``expression_ranges`` and ``blendshape_ranges``.
        """
        where = "target bundle manifest"
        try:
            pose_range = manifest["pose_range"]
            neutral = manifest["neutral_canonical"]
            lo = np.array([float(pose_range[k][0]) for k in ("yaw", "pitch", "roll")])
            hi = np.array([float(pose_range[k][1]) for k in ("yaw", "pitch", "roll")])
        except KeyError as exc:
            raise TargetGeometryError(f"{where} lacks {exc}; re-export the target bundle") from None
        except (TypeError, ValueError, IndexError):
            raise TargetGeometryError(
                f"{where}: pose_range must map yaw/pitch/roll to [min, max] degrees") from None
        neutral_pose = manifest.get("neutral_pose")
        if neutral_pose is None:
            neutral_pose = np.clip(np.zeros(3), lo, hi)
        return cls(neutral_points=neutral, pose_min=lo, pose_max=hi, neutral_pose=neutral_pose,
                   neutral_blendshapes=manifest.get("neutral_blendshapes"),
                   ranges=dict(manifest.get("expression_ranges") or {}),
                   blendshape_ranges=dict(manifest.get("blendshape_ranges") or {}),
                   blendshape_rig=blendshape_rig)
