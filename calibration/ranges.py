"""Expression ranges: guided steps that measure how far this driver's expressions go.

Each step asks for one expression ("Smile as wide as you can") and records, frame by frame,
how far a landmark measure (``calibration.measures``) and its blendshape group moved from the
driver's neutral. The step's range is a high percentile of that, so a single tracking glitch
cannot set it. The retargeter turns driver and target ranges into per-region scale factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentcam.facekit.blendshapes import GROUPS, indices
from latentcam.facekit.geometry import canonicalize
from latentcam.facekit.observation import FaceObservation

from .measures import MEASURE_BLENDSHAPE_GROUP, MEASURES, MIN_RANGE


@dataclass(frozen=True)
class GuidedStep:
    name: str
    instruction: str
    measure: str           # a ``calibration.measures.MEASURES`` name


GUIDED_STEPS: tuple[GuidedStep, ...] = (
    GuidedStep("open_mouth", "Open your mouth as wide as you can", "mouth_open"),
    GuidedStep("smile", "Smile as wide as you can", "smile"),
    GuidedStep("raise_brows", "Raise your eyebrows as high as you can", "brows_up"),
    GuidedStep("close_eyes", "Close your eyes", "eyes_closed"),
    GuidedStep("look_left", "Look to your left without turning your head", "gaze_horizontal"),
    GuidedStep("look_right", "Look to your right without turning your head", "gaze_horizontal"),
)
STEP_BY_NAME = {s.name: s for s in GUIDED_STEPS}


def steps_by_name(names: list[str] | tuple[str, ...]) -> tuple[GuidedStep, ...]:
    """Look up guided steps by name; unknown names raise ``ValueError`` listing the known ones."""
    unknown = [n for n in names if n not in STEP_BY_NAME]
    if unknown:
        raise ValueError(f"unknown calibration step(s) {unknown}; choose from {sorted(STEP_BY_NAME)}")
    return tuple(STEP_BY_NAME[n] for n in names)


@dataclass(frozen=True)
class StepResult:
    step: GuidedStep
    frames: int                 # frames with a face
    missing: int                # frames without a face
    range: float                # measure range above neutral (0 when no frames)
    blendshape_range: float     # mean group score range above neutral
    sufficient: bool            # the range exceeds the measure's noise floor

    @property
    def message(self) -> str:
        if self.frames == 0 and self.missing == 0:
            return f"{self.step.name}: no frames left (the clip ended); step skipped"
        if self.frames == 0:
            return f"{self.step.name}: no face seen; step skipped"
        if not self.sufficient:
            return (f"{self.step.name}: little movement ({self.range:.3f}); the default scale is "
                    "used for it. Repeat with a bigger expression if the target looks too subdued.")
        return f"{self.step.name}: range {self.range:.3f}, blendshapes {self.blendshape_range:.2f}"


class RangeCapture:
    """Records one guided step against a neutral face; ``feed`` per frame, then ``result()``."""

    def __init__(self, step: GuidedStep, neutral_points: np.ndarray, neutral_blendshapes: np.ndarray,
                 percentile: float = 95.0):
        if step.measure not in MEASURES:
            raise ValueError(f"step {step.name}: unknown measure {step.measure!r}")
        self.step = step
        self.percentile = percentile
        self._measure = MEASURES[step.measure]
        self._base = self._measure(np.asarray(neutral_points, dtype=np.float64))
        self._group = indices(GROUPS[MEASURE_BLENDSHAPE_GROUP[step.measure]])
        self._base_bs = float(np.mean(np.asarray(neutral_blendshapes)[self._group]))
        self._values: list[float] = []
        self._bs_values: list[float] = []
        self._missing = 0

    def feed(self, face: FaceObservation | None, points: np.ndarray | None = None) -> None:
        """One frame of the step. ``points`` may pass the already canonicalised landmarks."""
        if face is None:
            self._missing += 1
            return
        if points is None:
            points = canonicalize(face.landmarks_px).points
        value = self._measure(np.asarray(points, dtype=np.float64)) - self._base
        self._values.append(abs(value) if self.step.measure == "gaze_horizontal" else value)
        self._bs_values.append(float(np.mean(face.blendshapes[self._group])) - self._base_bs)

    def result(self) -> StepResult:
        if not self._values:
            return StepResult(self.step, 0, self._missing, 0.0, 0.0, False)
        rng = max(0.0, float(np.percentile(self._values, self.percentile)))
        bs = max(0.0, float(np.percentile(self._bs_values, self.percentile)))
        return StepResult(self.step, len(self._values), self._missing, rng, bs,
                          rng >= MIN_RANGE[self.step.measure])


def combine_step_results(results: list[StepResult]) -> tuple[dict[str, float], dict[str, float]]:
    """(measure ranges, blendshape group ranges) from step results: the widest per measure;
    steps without a usable range are left out (their regions keep scale 1.0)."""
    ranges: dict[str, float] = {}
    bs_ranges: dict[str, float] = {}
    for r in results:
        if not r.sufficient:
            continue
        m = r.step.measure
        ranges[m] = max(ranges.get(m, 0.0), r.range)
        g = MEASURE_BLENDSHAPE_GROUP[m]
        bs_ranges[g] = max(bs_ranges.get(g, 0.0), r.blendshape_range)
    return ranges, bs_ranges
