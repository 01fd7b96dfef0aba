"""Named index groups of MediaPipe's 478-point face mesh (468 mesh points + 10 iris points).

"Left"/"right" are the *subject's* sides (the subject's left eye appears on the image's right).
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 478

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37,
              39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82,
              81, 80, 191)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # 468 is the centre
LEFT_IRIS = (473, 474, 475, 476, 477)   # 473 is the centre
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327)

# Points that barely move with expression: eye corners, nose bridge and nose base.
# The alignment crop and the canonical face frame are fitted on these only, so that
# opening the mouth or raising the brows does not move the crop.
STABLE = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327)

RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374
# Eyelid pairs (upper, lower) facing each other along each eye contour, outer corner → inner:
# where lids meet when the eye closes (synthetic blinks, lids that must not cross).
RIGHT_LID_PAIRS = ((246, 7), (161, 163), (160, 144), (RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM), (158, 153),
                   (157, 154), (173, 155))
LEFT_LID_PAIRS = ((466, 249), (388, 390), (387, 373), (LEFT_EYE_TOP, LEFT_EYE_BOTTOM), (385, 380),
                  (384, 381), (398, 382))
MOUTH_LEFT, MOUTH_RIGHT = 291, 61
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10

# Regions used by calibration and evaluation (each maps to its landmark indices).
REGIONS: dict[str, tuple[int, ...]] = {
    "mouth": tuple(sorted(set(LIPS_OUTER + LIPS_INNER))),
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "right_iris": RIGHT_IRIS,
    "left_iris": LEFT_IRIS,
    "jaw": FACE_OVAL,
}

# The expressive subset an encoder looks at (sorted, unique).
EXPRESSIVE = tuple(sorted(set(
    LIPS_OUTER + LIPS_INNER + RIGHT_EYE + LEFT_EYE + RIGHT_BROW + LEFT_BROW + RIGHT_IRIS
    + LEFT_IRIS + FACE_OVAL + NOSE
)))


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres from the eye-corner landmarks of an (N>=478, D) array."""
    right = (points[RIGHT_EYE_OUTER] + points[RIGHT_EYE_INNER]) / 2.0
    left = (points[LEFT_EYE_OUTER] + points[LEFT_EYE_INNER]) / 2.0
    return right, left


def interocular_distance(points: np.ndarray) -> float:
    """Distance between the two eye centres, in the units of ``points`` (x, y only)."""
    right, left = eye_centres(points[:, :2])
    return float(np.linalg.norm(left - right))
