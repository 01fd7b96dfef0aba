"""The 52 ARKit-style blendshape names MediaPipe's FaceLandmarker emits, in model order."""

from __future__ import annotations

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
NUM_BLENDSHAPES = len(BLENDSHAPE_NAMES)
INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}

# Groups used for coverage reports, calibration ranges and evaluation.
GROUPS: dict[str, tuple[str, ...]] = {
    "mouth_open": ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight"),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "frown": ("mouthFrownLeft", "mouthFrownRight"),
    "pucker": ("mouthPucker", "mouthFunnel"),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
    "eyes_wide": ("eyeWideLeft", "eyeWideRight"),
    "brows_up": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "brows_down": ("browDownLeft", "browDownRight"),
    "gaze_horizontal": ("eyeLookInLeft", "eyeLookOutLeft", "eyeLookInRight", "eyeLookOutRight"),
    "gaze_vertical": ("eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft", "eyeLookDownRight"),
}

# Regions for evaluation (mouth / eyes / brows).
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "mouth": GROUPS["mouth_open"] + GROUPS["smile"] + GROUPS["frown"] + GROUPS["pucker"],
    "eyes": GROUPS["blink"] + GROUPS["eyes_wide"],
    "brows": GROUPS["brows_up"] + GROUPS["brows_down"],
}


def indices(names: tuple[str, ...]) -> list[int]:
    """Positions of ``names`` in the 52-vector."""
    return [INDEX[n] for n in names]
