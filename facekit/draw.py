"""Drawing tracked faces onto frames (landmarks, head axes, labels)."""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import head_pose
from .landmarks import FACE_OVAL, LEFT_EYE, LEFT_IRIS, LIPS_INNER, LIPS_OUTER, NOSE_TIP, RIGHT_EYE, RIGHT_IRIS
from .observation import FaceObservation


def _polyline(image: np.ndarray, pts: np.ndarray, idx: tuple[int, ...], colour, closed=True) -> None:
    poly = np.round(pts[list(idx), :2]).astype(np.int32)
    cv2.polylines(image, [poly], closed, colour, 1, cv2.LINE_AA)


def draw_face(image: np.ndarray, face: FaceObservation, axis_length: float | None = None) -> np.ndarray:
    """Draw landmarks, contours and head-pose axes in place; returns ``image``."""
    pts = face.landmarks_px
    for x, y in np.round(pts[:468, :2]).astype(np.int32):
        cv2.circle(image, (int(x), int(y)), 1, (200, 200, 200), -1)
    _polyline(image, pts, FACE_OVAL, (255, 255, 255))
    for idx in (LIPS_OUTER, LIPS_INNER):
        _polyline(image, pts, idx, (80, 80, 255))
    for idx in (RIGHT_EYE, LEFT_EYE):
        _polyline(image, pts, idx, (255, 200, 0))
    for idx in (RIGHT_IRIS, LEFT_IRIS):
        cx, cy = pts[idx[0], :2]
        r = float(np.linalg.norm(pts[idx[1], :2] - pts[idx[0], :2]))
        cv2.circle(image, (int(round(cx)), int(round(cy))), max(1, int(round(r))), (0, 255, 255), 1, cv2.LINE_AA)
    draw_head_axes(image, face, axis_length)
    return image


def draw_head_axes(image: np.ndarray, face: FaceObservation, axis_length: float | None = None) -> None:
    """Head axes at the nose tip: x red (subject's left), y green (up), z blue (forward)."""
    x0, y0, x1, y1 = face.bbox
    length = axis_length or 0.35 * max(x1 - x0, y1 - y0)
    rot = np.asarray(face.head_transform, dtype=np.float64)[:3, :3]
    origin = face.landmarks_px[NOSE_TIP, :2]
    for axis, colour in ((0, (0, 0, 255)), (1, (0, 255, 0)), (2, (255, 0, 0))):
        direction = rot[:, axis]
        # camera space: +x right, +y up, +z towards the viewer → image: y flipped
        tip = origin + length * np.array([direction[0], -direction[1]])
        cv2.arrowedLine(image, tuple(np.round(origin).astype(int)), tuple(np.round(tip).astype(int)),
                        colour, 2, cv2.LINE_AA, tipLength=0.15)


def draw_text(image: np.ndarray, lines: list[str], origin: tuple[int, int] = (10, 22),
              scale: float = 0.55) -> None:
    """White text on a translucent dark panel, one string per line."""
    if not lines:
        return
    x, y = origin
    step = int(30 * scale + 10)
    widths = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for line in lines]
    x0, y0 = max(0, x - 6), max(0, y - step + 4)
    x1 = min(image.shape[1], x + max(widths) + 6)
    y1 = min(image.shape[0], y + step * (len(lines) - 1) + 8)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(image.dtype)
    for line in lines:
        cv2.putText(image, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += step


def pose_text(face: FaceObservation) -> str:
    yaw, pitch, roll = head_pose(face.head_transform)
    return f"yaw {yaw:+.0f}  pitch {pitch:+.0f}  roll {roll:+.0f}"
