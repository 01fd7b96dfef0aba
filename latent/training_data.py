"""Read a dataset directory (written by ``latentcam prepare``) into memory for training and eval.

numpy + OpenCV only. The directory format is the contract documented in ``latent/dataset.py``:
``manifest.json``, ``crops/NNNNNN.png``, ``masks/NNNNNN.png``, ``observations.safetensors``
and, from the hand check, ``occlusion/NNNNNN.png`` (a dataset built before it loads as
unoccluded: ``occlusion_checked`` False, every pixel valid).
Crops are resized to the training resolution once and kept as uint8, so a few hundred frames
at 256² take ~100 MB and every training step is a memory copy, not a PNG decode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .dataset import DatasetError
from .face_regions import PARTS
from .features import expression_features_batch
from .occlusion import OCCLUDED_MIN_FRACTION

DATASET_FORMAT = "latentcam-dataset"
_REQUIRED = ("frame_index", "canonical", "blendshapes", "pose")


@dataclass(frozen=True)
class TrainingData:
    """Arrays of one dataset at one resolution (N frames)."""

    path: Path
    manifest: dict
    images: np.ndarray       # (N, S, S, 3) uint8 BGR alignment crops
    masks: np.ndarray        # (N, S, S) uint8 face masks 0..255
    features: np.ndarray     # (N, F) float32 encoder inputs (latent.features)
    canonical: np.ndarray    # (N, 478, 3) float32
    blendshapes: np.ndarray  # (N, 52) float32
    pose: np.ndarray         # (N, 3) float32 yaw/pitch/roll degrees
    frame_index: np.ndarray  # (N,) int64 source frame numbers
    # The hand check (latent/occlusion.py). Defaults describe an unchecked dataset.
    occlusion: np.ndarray | None = None          # (N, S, S) uint8 255 = covered by a hand
    occluded_fraction: np.ndarray | None = None  # (N,) float32 fraction of the face mask covered
    occluded_parts: np.ndarray | None = None     # (N, len(PARTS)) float32 per face part
    occlusion_checked: bool = False              # False: built before the check, all unoccluded

    def __post_init__(self) -> None:
        n, s = len(self.images), self.images.shape[1]
        if self.occlusion is None:
            object.__setattr__(self, "occlusion", np.zeros((n, s, s), np.uint8))
        if self.occluded_fraction is None:
            object.__setattr__(self, "occluded_fraction", np.zeros(n, np.float32))
        if self.occluded_parts is None:
            object.__setattr__(self, "occluded_parts", np.zeros((n, len(PARTS)), np.float32))

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    @property
    def occluded(self) -> np.ndarray:
        """(N,) bool: a hand covers at least ``OCCLUDED_MIN_FRACTION`` of the frame's face mask.
        Pick neutral/exemplar textures and other reference frames from ``~occluded``."""
        return self.occluded_fraction >= OCCLUDED_MIN_FRACTION

    @property
    def valid(self) -> np.ndarray:
        """(N, S, S) float32 per-pixel loss weight: 0 under an occluder, 1 elsewhere."""
        return 1.0 - self.occlusion.astype(np.float32) / 255.0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, keep: np.ndarray) -> "TrainingData":
        """The frames at positions ``keep`` (an index or boolean array)."""
        return TrainingData(self.path, self.manifest, self.images[keep], self.masks[keep],
                            self.features[keep], self.canonical[keep], self.blendshapes[keep],
                            self.pose[keep], self.frame_index[keep], self.occlusion[keep],
                            self.occluded_fraction[keep], self.occluded_parts[keep],
                            self.occlusion_checked)


def read_manifest(path: Path) -> dict:
    path = Path(path)
    mf = path / "manifest.json"
    if not mf.is_file():
        raise DatasetError(f"{path} is not a dataset directory (no manifest.json); create one with "
                           f"`latentcam prepare VIDEO --out {path}`")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{mf} is not valid JSON ({exc}); re-run `latentcam prepare`") from exc
    if manifest.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{mf}: format is {manifest.get('format')!r}, expected {DATASET_FORMAT!r}")
    return manifest


def parse_frame_range(spec: str | None, n: int) -> np.ndarray:
    """"A:B" (Python slice over the dataset's frames, either end optional, fractions like
    "0:0.8" allowed) → boolean mask of length n. None → all frames."""
    keep = np.zeros(n, dtype=bool)
    if spec is None:
        keep[:] = True
        return keep
    try:
        a, b = spec.split(":")

        def pos(text: str, default: int) -> int:
            if not text:
                return default
            v = float(text)
            return int(round(v * n)) if ("." in text and abs(v) <= 1.0) else int(v)
        keep[pos(a, 0):pos(b, n)] = True
    except ValueError as exc:
        raise DatasetError(f"frame range {spec!r} is not A:B (e.g. 0:300 or 0:0.8)") from exc
    if not keep.any():
        raise DatasetError(f"frame range {spec!r} selects no frames out of {n}")
    return keep


def load_training_data(path: Path, size: int | None = None) -> TrainingData:
    """Load a dataset directory, resizing crops/masks to ``size`` (default: the stored size)."""
    from safetensors.numpy import load_file

    path = Path(path)
    manifest = read_manifest(path)
    obs_file = path / "observations.safetensors"
    if not obs_file.is_file():
        raise DatasetError(f"{obs_file} is missing; re-run `latentcam prepare`")
    obs = load_file(str(obs_file))
    missing = [k for k in _REQUIRED if k not in obs]
    if missing:
        raise DatasetError(f"{obs_file} lacks {', '.join(missing)}; re-run `latentcam prepare`")
    n = len(obs["frame_index"])
    if n == 0:
        raise DatasetError(f"{path} holds no frames")
    for k in _REQUIRED:
        if len(obs[k]) != n:
            raise DatasetError(f"{obs_file}: {k} has {len(obs[k])} rows, frame_index has {n}")
    stored = int(manifest.get("crop_size", 0))
    size = size or stored
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    occlusion = np.zeros((n, size, size), np.uint8)
    checked = "hand_count" in obs and bool((obs["hand_count"] >= 0).all())
    for i in range(n):
        crop = cv2.imread(str(path / "crops" / f"{i:06d}.png"), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(path / "masks" / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
        if crop is None or mask is None:
            raise DatasetError(f"{path}: crop or mask {i:06d}.png is missing or unreadable; "
                               f"re-run `latentcam prepare`")
        occ_file = path / "occlusion" / f"{i:06d}.png"
        occ = cv2.imread(str(occ_file), cv2.IMREAD_GRAYSCALE) if occ_file.is_file() else None
        if crop.shape[0] != size:
            interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (size, size), interpolation=interp)
            mask = cv2.resize(mask, (size, size), interpolation=interp)
            if occ is not None:
                occ = cv2.resize(occ, (size, size), interpolation=interp)
        images[i], masks[i] = crop, mask
        if occ is not None:
            occlusion[i] = occ
    canonical = obs["canonical"].astype(np.float32)
    blend = obs["blendshapes"].astype(np.float32)
    pose = obs["pose"].astype(np.float32)
    feats = expression_features_batch(canonical, blend, pose)
    fraction = obs["occluded_fraction"].astype(np.float32) if checked else None
    parts = obs["occluded_parts"].astype(np.float32) if checked else None
    return TrainingData(path, manifest, images, masks, feats, canonical, blend, pose,
                        obs["frame_index"].astype(np.int64), occlusion, fraction, parts, checked)
