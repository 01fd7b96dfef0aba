"""Left/right mirroring of landmarks, head pose and blendshapes.

A driver whose camera image is mirrored (or who wants the target to move like a reflection)
needs the subject's left and right swapped. The landmark swap is derived from MediaPipe's
canonical face model, which is exactly symmetric about x = 0: vertex ``i`` pairs with the
vertex at ``(-x_i, y_i, z_i)``. The ten iris points are not in the model; their order was
checked on real tracking (centre, +x, top, -x, bottom for both eyes), so the +x point of one
iris pairs with the -x point of the other.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from latentcam.facekit.blendshapes import BLENDSHAPE_NAMES, INDEX
from latentcam.facekit.canonical import load_canonical_face
from latentcam.facekit.landmarks import NUM_LANDMARKS

# iris index → mirrored iris index (468 right centre ↔ 473 left centre, ring +x ↔ ring -x).
_IRIS_PAIRS = ((468, 473), (469, 476), (470, 475), (471, 474), (472, 477))


@lru_cache(maxsize=1)
def landmark_mirror_map() -> np.ndarray:
    """(478,) int array: ``points[map]`` with x negated is the mirrored face."""
    vertices = load_canonical_face().vertices.astype(np.float64)
    reflected = vertices * np.array([-1.0, 1.0, 1.0])
    dist = np.linalg.norm(vertices[:, None, :] - reflected[None, :, :], axis=2)
    mesh_map = dist.argmin(axis=1)
    if dist[np.arange(len(vertices)), mesh_map].max() > 1e-3 or not np.array_equal(
            mesh_map[mesh_map], np.arange(len(vertices))):
        raise RuntimeError("the canonical face model is not left/right symmetric; cannot mirror")
    full = np.arange(NUM_LANDMARKS)
    full[: len(vertices)] = mesh_map
    for a, b in _IRIS_PAIRS:
        full[a], full[b] = b, a
    full.setflags(write=False)
    return full


@lru_cache(maxsize=1)
def blendshape_mirror_map() -> np.ndarray:
    """(52,) int array swapping every ``...Left`` score with its ``...Right`` twin."""
    out = np.arange(len(BLENDSHAPE_NAMES))
    for i, name in enumerate(BLENDSHAPE_NAMES):
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(a):
                out[i] = INDEX[name[: -len(a)] + b]
    out.setflags(write=False)
    return out


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Mirror (478, 3) canonical-frame points (x → -x with left/right landmarks swapped)."""
    out = np.asarray(points)[landmark_mirror_map()].copy()
    out[:, 0] *= -1.0
    return out


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """Mirror (yaw, pitch, roll) degrees: a reflection negates yaw and roll."""
    yaw, pitch, roll = np.asarray(pose, dtype=np.float64)
    return np.array([-yaw, pitch, -roll])


def mirror_blendshapes(scores: np.ndarray) -> np.ndarray:
    """Swap Left/Right blendshape scores."""
    return np.asarray(scores)[blendshape_mirror_map()].copy()
