"""Choose the exemplar frames of a composed decoder (``latent.composed_decoder``).

Each exemplar is a real training crop the decoder paints from: real teeth, real closed lids,
real smile lines, which a single warped neutral texture cannot make. They are picked by the
coverage measures (``latent.coverage.group_scores``), one per measure in ``MEASURES`` order:
the most neutral face first (the decoder starts from it), then the widest open mouth, the widest
smile, the most closed eyes, the highest brows.

Only *usable* frames qualify: the caller passes which frames are free of occluders (a hand over
the mouth, picked by blendshape extremes alone, becomes a "widest open mouth" exemplar —
``../shared/DESIGN.md``, exemplar prototype). Among them a head turned away from the clip's
median pose is penalised (``POSE_PENALTY`` per degree), because every exemplar is moved by the
same field and should share the crop's geometry. An exemplar must differ from those already
chosen (some mouth/eye/brow blendshape by at least ``MIN_DIFFERENCE``): in a clip without an open
mouth, the "widest open mouth" is the widest smile again, and a second copy of it is wasted —
the measures of ``FALLBACK_MEASURES`` then take its place, and if even they find nothing new,
the frame farthest from all chosen ones.
"""

from __future__ import annotations

import numpy as np

from latentcam.facekit.blendshapes import REGION_GROUPS, indices

MEASURES = ("neutral", "mouth_open", "smile", "blink", "brows_up")
FALLBACK_MEASURES = ("brows_down", "frown", "eyes_wide", "pucker")
POSE_PENALTY = 0.01      # score units per degree of yaw/pitch away from the median pose
MIN_DIFFERENCE = 0.15    # largest region-blendshape difference that still counts as "the same"


def exemplar_scores(blendshapes: np.ndarray) -> dict[str, np.ndarray]:
    """{measure: (N,) score, higher = better exemplar for it} for every name in ``MEASURES``."""
    from .coverage import group_scores

    b = np.asarray(blendshapes, dtype=np.float32)
    groups = group_scores(b)
    expressive = indices(tuple(n for names in REGION_GROUPS.values() for n in names))
    energy = b[:, expressive].sum(axis=1)
    # Neutral: least expressive, on the 0..1 scale of the other measures.
    out = {"neutral": 1.0 - energy / max(float(energy.max()), 1e-6)}
    for name in MEASURES[1:] + FALLBACK_MEASURES:
        out[name] = groups[name]
    return out


def choose_exemplars(blendshapes: np.ndarray, pose: np.ndarray, count: int,
                     usable: np.ndarray | None = None) -> list[int]:
    """Indices of ``count`` distinct frames: the best by each of ``MEASURES`` (then
    ``FALLBACK_MEASURES``) that differs from those already chosen, neutral first. ``usable``
    (N,) bool: frames allowed (default all); if fewer than ``count`` are usable, the rest come
    from the unusable ones rather than failing."""
    n = len(blendshapes)
    if n < count:
        raise ValueError(f"a composed decoder with {count} exemplars needs at least {count} "
                         f"training frames, got {n}")
    usable = np.ones(n, bool) if usable is None else np.asarray(usable, bool)
    if usable.shape != (n,):
        raise ValueError(f"usable must be ({n},) bool, got {usable.shape}")
    pose = np.asarray(pose, dtype=np.float32)
    off_pose = np.abs(pose[:, :2] - np.median(pose[:, :2], axis=0)).sum(axis=1)
    scores = exemplar_scores(blendshapes)
    regional = np.asarray(blendshapes, np.float32)[
        :, indices(tuple(n for names in REGION_GROUPS.values() for n in names))]
    penalty = np.where(usable, 0.0, 1e3)                 # unusable only when nothing else is left
    chosen: list[int] = []

    def distance_to_chosen() -> np.ndarray:
        return np.abs(regional[:, None] - regional[chosen][None]).max(axis=2).min(axis=1)

    for name in MEASURES + FALLBACK_MEASURES:
        if len(chosen) == count:
            break
        score = scores[name] - POSE_PENALTY * off_pose - penalty
        if chosen:
            score = np.where(distance_to_chosen() >= MIN_DIFFERENCE, score, -np.inf)
        if np.isfinite(score).any():
            chosen.append(int(np.argmax(score)))
    while len(chosen) < count:                           # farthest from everything chosen
        spread = distance_to_chosen() - penalty
        spread[chosen] = -np.inf
        chosen.append(int(np.argmax(spread)))
    return chosen
