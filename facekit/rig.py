"""The target's blendshape rig: how the target's own lower face moves per blendshape.

Landmark deltas carry a driver's mouth onto the target only as well as the two mouths' rest
shapes agree: a driver whose calm mouth hangs open, or a target photographed smiling, shrinks
or bends every lip movement, and the encoder — trained on MediaPipe's reading of the *target's*
frames — is then asked for lower-face points it never saw with those blendshapes
(``benchmarks/latent/cross_feature_gap.md``). Blendshape scores are made to be the same for
everyone, so the retargeter can instead place the target's lower face where the *target's* own
frames put it for the retargeted scores::

    points[rig.points] = target_neutral[rig.points] + (blendshapes - target_rest) · rig.displacement

``displacement`` (52, n, 3) is a ridge regression through the neutral face, fitted at export on
the target's training observations (``latent.export.fit_blendshape_rig``) and stored in the
bundle as ``rig.safetensors``; ``calibration.Retargeter`` applies it. Only the principal mouth
movements (``RIG_BLENDSHAPES``) move points; the other rows are zero. MediaPipe reads secondary
scores (dimple, press, shrug, …) differently on every face — the astronaut's closed lips read
as pressed at rest, and her puckered frames as dimpled too — so a rig conditioned on them handed
a driver's pucker, which comes without those readings, only the part of the target's pucker
they did not already explain (``benchmarks/latent/rig_blendshapes.md``). Through the neutral: the
target's resting scores give the target's neutral face exactly, so a driver at rest still shows
the target at rest. It lives in facekit because both sides use it: latent writes the file,
calibration reads it, and neither may import the other.

Score response: MediaPipe's mouth scores have a dead zone — a pucker or a jaw drop reads near 0
until the face has moved a fair way (``benchmarks/latent/pucker_synthesis.md``) — so a straight
line through a target's large movements under-delivers a driver's small asks, and the render
stays still where the driver moves. The rig is therefore linear not in the score change but in
its ``score_response``: rises above rest raised to ``exponent`` (≤ 1), falls below rest as they
are. The export chooses the exponent per target from its own frames
(``latent.export.rig_exponent``: by cross-validation for a synthetic one-photo training
set, 1 for a recorded one); 1.0 is the plain linear rig, and what rig files
written before the exponent existed hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .blendshapes import GROUPS, NUM_BLENDSHAPES
from .errors import InputError
from .landmarks import NUM_LANDMARKS

RIG_FILE = "rig.safetensors"
# The scores the rig places the lower face from: the mouth movements coverage and calibration
# measure (open, lower lip down, smile, frown, pucker, funnel).
RIG_BLENDSHAPES = GROUPS["mouth_open"] + GROUPS["smile"] + GROUPS["frown"] + GROUPS["pucker"]


class RigError(InputError, ValueError):
    """A target bundle's blendshape rig is missing or malformed."""


def score_response(delta_blendshapes: np.ndarray, exponent: float) -> np.ndarray:
    """What the rig is linear in (float64): score rises above rest raised to ``exponent``,
    falls below rest unchanged; exponent 1 is the identity."""
    delta = np.asarray(delta_blendshapes, np.float64)
    if exponent == 1.0:
        return delta
    return np.where(delta > 0.0, np.abs(delta) ** exponent, delta)


@dataclass(frozen=True)
class BlendshapeRig:
    points: np.ndarray         # (n,) int64 landmark indices the rig places
    displacement: np.ndarray   # (52, n, 3) float32 cm per unit of each score's response
    exponent: float = 1.0      # score_response's power for rises above rest (0 < e <= 1)

    def __post_init__(self) -> None:
        points = np.asarray(self.points)
        disp = np.asarray(self.displacement, dtype=np.float32)
        fix = "re-export the target bundle"
        if points.ndim != 1 or not np.issubdtype(points.dtype, np.integer) or points.size == 0:
            raise RigError(f"blendshape rig: points must be a non-empty 1-D integer array; {fix}")
        if points.min() < 0 or points.max() >= NUM_LANDMARKS or len(np.unique(points)) != points.size:
            raise RigError(f"blendshape rig: points must be distinct landmark indices "
                           f"0..{NUM_LANDMARKS - 1}; {fix}")
        if disp.shape != (NUM_BLENDSHAPES, points.size, 3):
            raise RigError(f"blendshape rig: displacement has shape {disp.shape}, expected "
                           f"({NUM_BLENDSHAPES}, {points.size}, 3); {fix}")
        if not np.all(np.isfinite(disp)):
            raise RigError(f"blendshape rig: displacement contains NaN or infinite values; {fix}")
        exponent = float(self.exponent)
        if not (np.isfinite(exponent) and 0.0 < exponent <= 1.0):
            raise RigError(f"blendshape rig: exponent must be in (0, 1], got {self.exponent}; {fix}")
        object.__setattr__(self, "exponent", exponent)
        object.__setattr__(self, "points", points.astype(np.int64))
        object.__setattr__(self, "displacement", disp)
        object.__setattr__(self, "_flat", disp.reshape(NUM_BLENDSHAPES, -1).astype(np.float64))

    def offsets(self, delta_blendshapes: np.ndarray) -> np.ndarray:
        """(n, 3) float64: the rig's points moved from the neutral for scores this far from rest."""
        return (score_response(delta_blendshapes, self.exponent) @ self._flat).reshape(-1, 3)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"points": np.ascontiguousarray(self.points),
                   "displacement": np.ascontiguousarray(self.displacement),
                   "exponent": np.array([self.exponent], np.float32)}, str(path))

    @classmethod
    def load(cls, path: Path) -> "BlendshapeRig":
        """Read a rig file (safetensors: plain arrays, nothing executed). A file without an
        ``exponent`` (written before it existed) is the linear rig."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(path))
        except (OSError, SafetensorError) as exc:
            raise RigError(f"cannot read the blendshape rig {path}: {exc}; re-export the target bundle") from None
        missing = {"points", "displacement"} - set(tensors)
        if missing:
            raise RigError(f"blendshape rig {path} lacks {sorted(missing)}; re-export the target bundle")
        exponent = tensors.get("exponent", np.ones(1, np.float32))
        if exponent.size != 1:
            raise RigError(f"blendshape rig {path}: exponent must hold one value, got {exponent.size}; "
                           "re-export the target bundle")
        return cls(tensors["points"], tensors["displacement"], float(exponent.reshape(-1)[0]))
