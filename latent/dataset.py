"""Target datasets: the on-disk format, its loader, and the builder behind ``latentcam prepare``.

A dataset directory (format ``latentcam-dataset`` version 1) holds, for every kept frame ``i``
(numbered 0..N-1 in kept-frame order):

* ``crops/{i:06d}.png``  — the BGR alignment crop (S×S), cut with ``facekit.geometry``'s
  ``alignment_matrix`` + ``warp_to_crop`` (the same alignment the live path pastes back with);
* ``masks/{i:06d}.png``  — uint8 0..255 S×S face mask: the filled face-oval polygon, feathered;
* ``occlusion/{i:06d}.png`` — uint8 S×S occluder mask (255 = a hand covers the pixel), written
  only for frames where a hand reaches into the crop (``latent/occlusion.py``);
* ``observations.safetensors`` — float32 unless stated: ``frame_index (N,) int64``,
  ``landmarks_px (N,478,3)`` source pixels, ``crop_landmarks (N,478,3)`` crop pixels,
  ``canonical (N,478,3)``, ``blendshapes (N,52)``, ``pose (N,3)`` yaw/pitch/roll degrees,
  ``alignment (N,2,3)`` image→crop; and from the hand check (absent in datasets built before
  it: they load as unoccluded, with ``occlusion_checked`` False): ``hand_count (N,) int8``
  (hands found, -1 = not checked), ``hand_landmarks (N,2,21,3)`` crop pixels (NaN where no
  hand), ``occluded_parts (N,P)`` fraction of each ``face_regions.PARTS`` covered,
  ``occluded_fraction (N,)`` fraction of the face mask covered;
* ``background.png`` — one full source frame (the most neutral, frontal one) for portrait
  compositing, with ``background_frame`` and ``background_alignment`` in the manifest;
* ``manifest.json`` — see ``MANIFEST_KEYS``.

Building is resumable: tracked frames are committed in chunks under ``.partial/`` (safetensors,
written atomically after their crops), so an interrupted run continues from the last chunk and
a finished directory is recognised and not rebuilt.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np

from latentcam.facekit.blendshapes import BLENDSHAPE_NAMES, GROUPS, NUM_BLENDSHAPES
from latentcam.facekit.geometry import (alignment_matrix, canonicalize, head_pose,
                                        transform_points, warp_to_crop)
from latentcam.facekit.hands import NUM_HAND_LANDMARKS
from latentcam.facekit.hashing import sha256_file
from latentcam.facekit.landmarks import FACE_OVAL, NUM_LANDMARKS
from latentcam.facekit.errors import InputError

from .face_regions import PARTS
from .occlusion import MAX_HANDS, OCCLUDED_MIN_FRACTION, frame_occlusion, hands_to_crop

FORMAT = "latentcam-dataset"
VERSION = 1
MANIFEST_NAME = "manifest.json"
OBSERVATIONS_NAME = "observations.safetensors"
BACKGROUND_NAME = "background.png"
CROPS_DIR = "crops"
MASKS_DIR = "masks"
OCCLUSION_DIR = "occlusion"
PARTIAL_DIR = ".partial"
STATE_NAME = "state.json"

MANIFEST_KEYS = ("format", "version", "crop_size", "frames", "skipped_no_face", "source",
                 "synthetic", "fps", "created")
# Array name → (shape after the leading N, dtype).
ARRAY_SPECS: dict[str, tuple[tuple[int, ...], type]] = {
    "frame_index": ((), np.int64),
    "landmarks_px": ((NUM_LANDMARKS, 3), np.float32),
    "crop_landmarks": ((NUM_LANDMARKS, 3), np.float32),
    "canonical": ((NUM_LANDMARKS, 3), np.float32),
    "blendshapes": ((NUM_BLENDSHAPES,), np.float32),
    "pose": ((3,), np.float32),
    "alignment": ((2, 3), np.float32),
}
# Written by the hand check (``latent/occlusion.py``); optional so older datasets still load.
OCCLUSION_SPECS: dict[str, tuple[tuple[int, ...], type]] = {
    "hand_count": ((), np.int8),
    "hand_landmarks": ((MAX_HANDS, NUM_HAND_LANDMARKS, 3), np.float32),
    "occluded_parts": ((len(PARTS),), np.float32),
    "occluded_fraction": ((), np.float32),
}

# Mask feathering: Gaussian sigma as a fraction of the crop side (256 px → ~2 px).
MASK_FEATHER_FRACTION = 1.0 / 128.0
# Frames tracked per committed chunk: bounds the work lost when a run is interrupted.
CHUNK_FRAMES = 32
# Blendshapes that do not count as "expression" when picking the neutral background frame.
_GAZE = set(GROUPS["gaze_horizontal"] + GROUPS["gaze_vertical"] + ("_neutral",))
EXPRESSION_INDICES = np.array([i for i, n in enumerate(BLENDSHAPE_NAMES) if n not in _GAZE])


class DatasetError(InputError, ValueError):
    """A dataset cannot be built or loaded; the message says what happened and what to do."""


# --- small helpers ---------------------------------------------------------------------------

def crop_name(i: int) -> str:
    return f"{i:06d}.png"


def face_mask(crop_landmarks: np.ndarray, size: int,
              feather_fraction: float = MASK_FEATHER_FRACTION) -> np.ndarray:
    """uint8 S×S mask: the filled convex hull of the face-oval landmarks, feathered at the edge."""
    pts = np.asarray(crop_landmarks, dtype=np.float64)[np.array(FACE_OVAL), :2]
    hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=4)
    sigma = max(0.5, size * feather_fraction)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def neutral_score(blendshapes: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(N,) how far each frame is from a neutral, frontal face (lower is more neutral)."""
    expr = np.asarray(blendshapes)[:, EXPRESSION_INDICES].sum(axis=1)
    turn = np.abs(np.asarray(pose)).sum(axis=1) / 10.0
    return expr + turn


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise DatasetError(f"could not write {path}: is the disk full or the folder read-only?")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- loading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """A loaded, validated dataset directory. Arrays have length ``len(self)``."""

    root: Path
    manifest: dict
    frame_index: np.ndarray
    landmarks_px: np.ndarray
    crop_landmarks: np.ndarray
    canonical: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    alignment: np.ndarray
    # The hand check (see the module docstring); None in datasets built before it.
    hand_count: np.ndarray | None = None
    hand_landmarks: np.ndarray | None = None
    occluded_parts: np.ndarray | None = None
    occluded_fraction: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])

    @property
    def occlusion_checked(self) -> bool:
        """Whether this dataset was checked for hands over the face (False: built before)."""
        return self.hand_count is not None and bool((self.hand_count >= 0).all())

    @property
    def occluded(self) -> np.ndarray:
        """(N,) bool: a hand covers at least ``OCCLUDED_MIN_FRACTION`` of the face mask
        (all False when the dataset was not checked)."""
        if self.occluded_fraction is None:
            return np.zeros(len(self), bool)
        return self.occluded_fraction >= OCCLUDED_MIN_FRACTION

    def occlusion_mask(self, i: int) -> np.ndarray:
        """uint8 S×S occluder mask of kept frame ``i`` (zeros where nothing covers the crop)."""
        path = self.root / OCCLUSION_DIR / crop_name(i)
        if not path.is_file():
            return np.zeros((self.crop_size, self.crop_size), np.uint8)
        return self._read(path, cv2.IMREAD_GRAYSCALE)

    @property
    def crop_size(self) -> int:
        return int(self.manifest["crop_size"])

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest["synthetic"])

    @property
    def crop_paths(self) -> list[Path]:
        return [self.root / CROPS_DIR / crop_name(i) for i in range(len(self))]

    @property
    def mask_paths(self) -> list[Path]:
        return [self.root / MASKS_DIR / crop_name(i) for i in range(len(self))]

    @property
    def background_path(self) -> Path:
        return self.root / BACKGROUND_NAME

    @property
    def background_alignment(self) -> np.ndarray:
        return np.asarray(self.manifest["background_alignment"], dtype=np.float64)

    def crop(self, i: int) -> np.ndarray:
        """BGR uint8 S×S crop of kept frame ``i``."""
        return self._read(self.root / CROPS_DIR / crop_name(i), cv2.IMREAD_COLOR)

    def mask(self, i: int) -> np.ndarray:
        """uint8 S×S face mask of kept frame ``i``."""
        return self._read(self.root / MASKS_DIR / crop_name(i), cv2.IMREAD_GRAYSCALE)

    def background(self) -> np.ndarray:
        return self._read(self.background_path, cv2.IMREAD_COLOR)

    def _read(self, path: Path, flag: int) -> np.ndarray:
        image = cv2.imread(str(path), flag)
        if image is None:
            raise DatasetError(f"dataset {self.root}: cannot read {path.name} "
                               f"({path}); re-run `latentcam prepare` to rebuild it.")
        return image


def load_dataset(root: str | Path, check_files: bool = True) -> Dataset:
    """Load and validate a dataset directory written by ``latentcam prepare``.

    Raises ``DatasetError`` naming the problem (missing files, wrong format/version, arrays
    that disagree in length or shape). ``check_files`` also checks every crop and mask exists.
    """
    from safetensors.numpy import load_file

    root = Path(root)
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        hint = (" It looks like an unfinished build: run the same `latentcam prepare` command "
                "again to finish it." if (root / PARTIAL_DIR).is_dir() else
                " Build one with `latentcam prepare VIDEO --out DIR`.")
        raise DatasetError(f"{root} is not a latentcam dataset (no {MANIFEST_NAME}).{hint}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{manifest_path}: unreadable manifest ({exc}); rebuild the dataset.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DatasetError(f"{manifest_path}: not a {FORMAT} manifest.")
    if manifest.get("version") != VERSION:
        raise DatasetError(f"{manifest_path}: dataset format version {manifest.get('version')} "
                           f"is not supported (this latentcam reads version {VERSION}); rebuild "
                           "it with this version's `latentcam prepare`.")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise DatasetError(f"{manifest_path}: missing manifest keys {missing}; rebuild the dataset.")
    obs_path = root / OBSERVATIONS_NAME
    if not obs_path.is_file():
        raise DatasetError(f"{root}: {OBSERVATIONS_NAME} is missing; rebuild the dataset.")
    try:
        arrays = load_file(str(obs_path))
    except Exception as exc:  # safetensors raises its own error types
        raise DatasetError(f"{obs_path}: unreadable ({exc}); rebuild the dataset.") from exc
    n = int(manifest["frames"])
    size = int(manifest["crop_size"])
    out = {}
    for name, (shape, dtype) in ARRAY_SPECS.items():
        if name not in arrays:
            raise DatasetError(f"{obs_path}: array '{name}' is missing; rebuild the dataset.")
        a = arrays[name]
        if a.shape != (n, *shape):
            raise DatasetError(f"{obs_path}: array '{name}' has shape {a.shape}, expected "
                               f"{(n, *shape)} for {n} frames; the dataset is inconsistent, "
                               "rebuild it.")
        out[name] = a.astype(dtype, copy=False)
    for name, (shape, dtype) in OCCLUSION_SPECS.items():
        if name in arrays:
            a = arrays[name]
            if a.shape != (n, *shape):
                raise DatasetError(f"{obs_path}: array '{name}' has shape {a.shape}, expected "
                                   f"{(n, *shape)}; the dataset is inconsistent, rebuild it.")
            out[name] = a.astype(dtype, copy=False)
    if n == 0:
        raise DatasetError(f"{root}: the dataset has no frames.")
    if check_files:
        for sub in (CROPS_DIR, MASKS_DIR):
            absent = [i for i in range(n) if not (root / sub / crop_name(i)).is_file()]
            if absent:
                raise DatasetError(f"{root / sub}: {len(absent)} of {n} images missing (first: "
                                   f"{crop_name(absent[0])}); rebuild the dataset.")
        first = cv2.imread(str(root / CROPS_DIR / crop_name(0)), cv2.IMREAD_COLOR)
        if first is None or first.shape != (size, size, 3):
            raise DatasetError(f"{root / CROPS_DIR / crop_name(0)}: expected a {size}×{size} "
                               f"BGR image, got {None if first is None else first.shape}.")
    return Dataset(root=root, manifest=manifest, **out)


# --- building --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceFrame:
    index: int           # source frame number (video frame, or synthetic frame number)
    image: np.ndarray    # BGR uint8
    time_s: float        # timestamp for VIDEO-mode tracking


class DatasetSource(Protocol):
    """Where ``prepare`` gets frames from: a video file or a one-photo synthesiser."""

    tracking_mode: str                      # "video" or "image"
    fps: float

    def count(self) -> int | None: ...
    def frames(self, start: int) -> Iterator[SourceFrame]: ...
    def frame(self, index: int) -> np.ndarray: ...
    def describe(self) -> dict: ...
    def manifest_extra(self, kept_frame_index: np.ndarray) -> dict: ...
    # Optional: ``background_frame`` (int), a source frame to use as the background plate.
    # ``manifest_extra`` may name a ``neutral_frame``: the target's neutral face (``export``).


class VideoSource:
    """Frames of a video file read with OpenCV; ``every`` keeps every N-th frame."""

    tracking_mode = "video"

    def __init__(self, path: str | Path, every: int = 1):
        self.path = Path(path)
        self.every = int(every)
        if self.every < 1:
            raise DatasetError(f"--every must be >= 1, got {every}")
        if not self.path.exists():
            raise DatasetError(f"video not found: {self.path}. Check the path.")
        if not self.path.is_file():
            raise DatasetError(f"{self.path} is not a file; give the path of a video file.")
        cap = cv2.VideoCapture(str(self.path))
        try:
            ok, first = cap.read() if cap.isOpened() else (False, None)
            if not ok or first is None:
                raise DatasetError(
                    f"cannot read video {self.path}: OpenCV could not decode any frame (the file "
                    "is not a video, is truncated or corrupt, or uses an unsupported codec). "
                    "Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p out.mp4`.")
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self._count = n if n > 0 else None
            self.width, self.height = int(first.shape[1]), int(first.shape[0])
        finally:
            cap.release()
        self.sha256 = sha256_file(self.path)

    def count(self) -> int | None:
        return self._count

    def frames(self, start: int = 0) -> Iterator[SourceFrame]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                if index < start or index % self.every:
                    if not cap.grab():
                        return
                    index += 1
                    continue
                ok, image = cap.read()
                if not ok or image is None:
                    return
                yield SourceFrame(index, image, index / self.fps)
                index += 1
        finally:
            cap.release()

    def frame(self, index: int) -> np.ndarray:
        cap = cv2.VideoCapture(str(self.path))
        try:
            for _ in range(index):
                if not cap.grab():
                    break
            ok, image = cap.read()
        finally:
            cap.release()
        if not ok or image is None:
            raise DatasetError(f"{self.path}: cannot read frame {index} again; was the video "
                               "changed during the run?")
        return image

    def describe(self) -> dict:
        return {"kind": "video", "path": self.path.name, "sha256": self.sha256,
                "width": self.width, "height": self.height, "frame_count": self._count,
                "every": self.every}

    def manifest_extra(self, kept_frame_index: np.ndarray) -> dict:
        return {}


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 256                  # crop side in pixels
    max_frames: int | None = None    # stop after this many kept frames (None: all)
    force: bool = False              # discard an existing/unfinished dataset in --out


@dataclass
class PrepareResult:
    out: Path
    frames: int                  # kept frames in the dataset
    skipped_no_face: int         # source frames without a face
    processed_now: int           # source frames tracked by this call (0: nothing to do)
    resumed: bool                # continued an unfinished or finished build
    coverage_text: str = ""


def _observation_arrays(landmarks_px: np.ndarray, blendshapes: np.ndarray,
                        transforms: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Derived per-frame arrays from raw tracker output (N frames)."""
    n = landmarks_px.shape[0]
    crop_lm = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
    canon = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
    pose = np.zeros((n, 3), np.float32)
    align = np.zeros((n, 2, 3), np.float32)
    for i in range(n):
        m = alignment_matrix(landmarks_px[i], size)
        align[i] = m
        crop_lm[i] = transform_points(landmarks_px[i], m)
        canon[i] = canonicalize(landmarks_px[i]).points
        pose[i] = head_pose(transforms[i])
    return {"landmarks_px": landmarks_px.astype(np.float32), "crop_landmarks": crop_lm,
            "canonical": canon, "blendshapes": blendshapes.astype(np.float32), "pose": pose,
            "alignment": align}


def _state_for(source: DatasetSource, options: PrepareOptions) -> dict:
    return {"source": source.describe(), "size": options.size, "max_frames": options.max_frames}


# Raw tracker output committed per chunk: name → (shape after N, dtype).
RAW_SPECS: dict[str, tuple[tuple[int, ...], type]] = {
    "frame_index": ((), np.int64),
    "landmarks_px": ((NUM_LANDMARKS, 3), np.float32),
    "blendshapes": ((NUM_BLENDSHAPES,), np.float32),
    "head_transform": ((4, 4), np.float32),
    "hand_landmarks_px": ((MAX_HANDS, NUM_HAND_LANDMARKS, 3), np.float32),   # NaN: no hand
    "hand_count": ((), np.int8),                                             # -1: not checked
}
# What a chunk written before the hand check holds in place of its hand arrays.
_RAW_FILL = {"hand_landmarks_px": np.nan, "hand_count": -1}


def _empty_raw(name: str) -> np.ndarray:
    shape, dtype = RAW_SPECS[name]
    return np.zeros((0, *shape), dtype)


def _load_chunks(partial: Path) -> tuple[dict[str, np.ndarray], int, int]:
    """(raw arrays of committed frames, next source index, skipped count) from .partial/."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    parts: dict[str, list[np.ndarray]] = {k: [_empty_raw(k)] for k in RAW_SPECS}
    next_index, skipped = 0, 0
    for path in sorted(partial.glob("chunk_*.safetensors")):
        arrays = load_file(str(path))
        with safe_open(str(path), "np") as fh:
            meta = fh.metadata()
        rows = len(arrays["frame_index"])
        for k in parts:
            if k not in arrays:       # a chunk from before the hand check: frames unchecked
                shape, dtype = RAW_SPECS[k]
                arrays[k] = np.full((rows, *shape), _RAW_FILL[k], dtype)
            parts[k].append(arrays[k])
        next_index = int(meta["next_index"])
        skipped = int(meta["skipped"])
    raw = {k: np.concatenate(v) for k, v in parts.items()}
    return raw, next_index, skipped


def _open_tracker(mode: str):
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode

    return FaceTracker(TrackerOptions(mode=TrackingMode.VIDEO if mode == "video" else TrackingMode.IMAGE))


def _open_hand_tracker(mode: str):
    from latentcam.facekit.hands import HandTracker, HandTrackerOptions
    from latentcam.facekit.tracker import TrackingMode

    return HandTracker(HandTrackerOptions(
        mode=TrackingMode.VIDEO if mode == "video" else TrackingMode.IMAGE, max_hands=MAX_HANDS))


class _Chunks:
    """Tracked frames committed in chunks under ``.partial/`` (what makes a build resumable).

    A chunk is written atomically after its crops and masks, with the next source frame to
    read and the running no-face count in its metadata.
    """

    def __init__(self, partial: Path):
        self.partial = partial
        self.raw, self.next_index, self.skipped = _load_chunks(partial)
        self.count = len(list(partial.glob("chunk_*.safetensors")))
        self._buf: dict[str, list] = {k: [] for k in RAW_SPECS}

    @property
    def kept(self) -> int:
        """Frames committed or buffered (the next crop number)."""
        return int(self.raw["frame_index"].shape[0]) + len(self._buf["frame_index"])

    def add(self, index: int, face, hands: np.ndarray) -> None:
        """One kept frame: its face and the (H, 21, 3) source-pixel landmarks of its hands."""
        self._buf["frame_index"].append(index)
        self._buf["landmarks_px"].append(face.landmarks_px)
        self._buf["blendshapes"].append(face.blendshapes)
        self._buf["head_transform"].append(face.head_transform)
        padded = np.full((MAX_HANDS, NUM_HAND_LANDMARKS, 3), np.nan, np.float32)
        k = min(len(hands), MAX_HANDS)
        padded[:k] = hands[:k]
        self._buf["hand_landmarks_px"].append(padded)
        self._buf["hand_count"].append(k)

    def commit(self, next_index: int) -> None:
        from safetensors.numpy import save_file

        arrays = {k: np.array(self._buf[k], dtype).reshape(-1, *shape) if self._buf[k]
                  else _empty_raw(k) for k, (shape, dtype) in RAW_SPECS.items()}
        path = self.partial / f"chunk_{self.count:06d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(arrays, str(tmp), metadata={"next_index": str(next_index),
                                              "skipped": str(self.skipped)})
        os.replace(tmp, path)
        for k in self.raw:
            self.raw[k] = np.concatenate([self.raw[k], arrays[k]])
        self.count += 1
        self.next_index = next_index
        self._buf = {k: [] for k in RAW_SPECS}


def _clear(out: Path) -> None:
    for name in (MANIFEST_NAME, OBSERVATIONS_NAME, BACKGROUND_NAME, PARTIAL_DIR, CROPS_DIR,
                 MASKS_DIR, OCCLUSION_DIR, "coverage.png", "coverage.txt"):
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _open_chunks(out: Path, state: dict) -> tuple[_Chunks, bool]:
    """The committed work of an unfinished build with the same ``state``, or a fresh start."""
    partial = out / PARTIAL_DIR
    if partial.is_dir():
        if _read_json(partial / STATE_NAME) != state:
            raise DatasetError(
                f"{out} holds an unfinished build of a different source or with different "
                "options. Re-run with the original arguments to finish it, choose another "
                "--out folder, or pass --force to start over.")
        return _Chunks(partial), True
    partial.mkdir(parents=True)
    _atomic_write_text(partial / STATE_NAME, json.dumps(state, indent=1))
    return _Chunks(partial), False


def _track(source: DatasetSource, out: Path, options: PrepareOptions, chunks: _Chunks,
           progress: Callable[[int, int | None], None] | None) -> int:
    """Track frames from ``chunks.next_index`` on, writing crops and masks; returns how many."""
    total = source.count()
    if progress is not None:
        progress(chunks.next_index, total)
    if options.max_frames is not None and chunks.kept >= options.max_frames:
        return 0
    processed = pending = 0
    next_index = chunks.next_index
    with (_open_tracker(source.tracking_mode) as tracker,
          _open_hand_tracker(source.tracking_mode) as hand_tracker):
        for frame in source.frames(chunks.next_index):
            face = tracker.track(frame.image, frame.index, frame.time_s).face
            if face is None:
                chunks.skipped += 1
            else:
                m = alignment_matrix(face.landmarks_px, options.size)
                name = crop_name(chunks.kept)
                _write_png(out / CROPS_DIR / name, warp_to_crop(frame.image, m, options.size))
                _write_png(out / MASKS_DIR / name,
                           face_mask(transform_points(face.landmarks_px, m), options.size))
                hands = hand_tracker.track(frame.image, frame.time_s).landmarks_px
                chunks.add(frame.index, face, hands)
            processed += 1
            pending += 1
            next_index = frame.index + 1
            if progress is not None:
                progress(next_index, total)
            if options.max_frames is not None and chunks.kept >= options.max_frames:
                break
            if pending >= CHUNK_FRAMES:
                chunks.commit(next_index)
                pending = 0
    if pending or chunks.count == 0:
        chunks.commit(next_index)
    return processed


def _occlusion_arrays(out: Path, raw: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                      size: int) -> dict[str, np.ndarray]:
    """The hand check's per-frame arrays; writes ``occlusion/`` PNGs for frames with a hand."""
    n = len(raw["frame_index"])
    hands = np.full((n, MAX_HANDS, NUM_HAND_LANDMARKS, 3), np.nan, np.float32)
    parts = np.zeros((n, len(PARTS)), np.float32)
    fraction = np.zeros(n, np.float32)
    (out / OCCLUSION_DIR).mkdir(exist_ok=True)
    for i in range(n):
        path = out / OCCLUSION_DIR / crop_name(i)
        k = int(raw["hand_count"][i])
        if k > 0:
            hands[i, :k] = hands_to_crop(raw["hand_landmarks_px"][i, :k], arrays["alignment"][i])
            occ = frame_occlusion(hands[i, :k], arrays["crop_landmarks"][i], size)
            parts[i] = [occ.parts[p] for p in PARTS]
            fraction[i] = occ.face_fraction
            if occ.mask.any():
                _write_png(path, occ.mask)
                continue
        path.unlink(missing_ok=True)          # e.g. left by an earlier, interrupted finish
    return {"hand_count": raw["hand_count"].astype(np.int8), "hand_landmarks": hands,
            "occluded_parts": parts, "occluded_fraction": fraction}


def _occlusion_manifest(arrays: dict[str, np.ndarray]) -> dict:
    from .occlusion import summarise

    checked = bool((arrays["hand_count"] >= 0).all())
    return {"checked": checked,
            "detector": "MediaPipe HandLandmarker (facekit/models/hand_landmarker.task)",
            "mask": "convex hull of each hand's landmarks + a forearm stub, dilated by a finger "
                    "width (latent/occlusion.py)",
            **summarise(arrays["occluded_parts"], arrays["occluded_fraction"])}


def _finish(source: DatasetSource, out: Path, options: PrepareOptions, chunks: _Chunks,
            state: dict) -> None:
    """Write observations, background plate and manifest from the committed chunks."""
    from safetensors.numpy import save_file

    raw = chunks.raw
    n = int(raw["frame_index"].shape[0])
    if n == 0:
        what = "synthesised frames of the photo" if source.tracking_mode == "image" else "frames"
        raise DatasetError(
            f"no face found in any of the {chunks.skipped} {what} of "
            f"{source.describe()['path']}. Use a video (or photo) where one face is clearly "
            "visible, frontal and well lit.")
    arrays = _observation_arrays(raw["landmarks_px"], raw["blendshapes"], raw["head_transform"],
                                 options.size)
    arrays["frame_index"] = raw["frame_index"].astype(np.int64)
    arrays.update(_occlusion_arrays(out, raw, arrays, options.size))
    tmp = out / (OBSERVATIONS_NAME + ".tmp")
    save_file(arrays, str(tmp))
    os.replace(tmp, out / OBSERVATIONS_NAME)

    # The background plate: the most neutral frame no hand covers (when there is one).
    score = neutral_score(arrays["blendshapes"], arrays["pose"])
    clear = arrays["occluded_fraction"] < OCCLUDED_MIN_FRACTION
    best = int(np.argmin(np.where(clear, score, np.inf))) if clear.any() else int(np.argmin(score))
    preferred = getattr(source, "background_frame", None)   # e.g. the portrait itself
    if preferred is not None and preferred in set(arrays["frame_index"].tolist()):
        best = int(np.flatnonzero(arrays["frame_index"] == preferred)[0])
    background_frame = int(arrays["frame_index"][best])
    background = source.frame(background_frame)
    _write_png(out / BACKGROUND_NAME, background)

    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "crop_size": options.size,
        "frames": n,
        "skipped_no_face": chunks.skipped,
        "source": source.describe(),
        "synthetic": source.tracking_mode == "image",
        "fps": source.fps,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "alignment": "facekit.geometry.alignment_matrix (similarity on landmarks.STABLE)",
        "mask": "filled convex hull of facekit.landmarks.FACE_OVAL in crop pixels, Gaussian-feathered",
        "background_frame": background_frame,
        "background_dataset_index": best,
        "background_alignment": arrays["alignment"][best].astype(float).tolist(),
        "background_size": [int(background.shape[1]), int(background.shape[0])],
        "occlusion": _occlusion_manifest(arrays),
        "build_state": state,
    }
    manifest.update(source.manifest_extra(arrays["frame_index"]))
    _atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=1))
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    # Crops beyond N can remain from an interrupted chunk that was never committed.
    for sub in (CROPS_DIR, MASKS_DIR, OCCLUSION_DIR):
        for p in (out / sub).glob("*.png"):
            if p.stem.isdigit() and int(p.stem) >= n:
                p.unlink()


def prepare(source: DatasetSource, out: str | Path, options: PrepareOptions = PrepareOptions(),
            progress: Callable[[int, int | None], None] | None = None,
            coverage: bool = True) -> PrepareResult:
    """Track every frame of ``source`` and write the dataset directory ``out``.

    Resumable: committed chunks in ``out/.partial`` are kept; a finished dataset with the same
    source and options is left untouched. ``progress(done, total)`` is called per frame;
    ``coverage`` also writes (and returns the text of) the coverage report.
    """
    from . import coverage as coverage_mod

    out = Path(out)
    if options.size < 32 or options.size > 2048:
        raise DatasetError(f"--size must be between 32 and 2048 pixels, got {options.size}")
    if options.max_frames is not None and options.max_frames < 1:
        raise DatasetError(f"--max-frames must be >= 1, got {options.max_frames}")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} exists and is not a directory.")
    state = _state_for(source, options)
    if options.force and out.is_dir():
        _clear(out)

    old = _read_json(out / MANIFEST_NAME) if (out / MANIFEST_NAME).is_file() else None
    if old is not None or (out / MANIFEST_NAME).is_file():
        if old is None or old.get("build_state") != state:
            raise DatasetError(
                f"{out} already holds a dataset built from a different source or with different "
                "options. Choose another --out folder, or pass --force to overwrite it.")
        # Finished with the same source and options: nothing to do.
        ds = load_dataset(out)
        text = coverage_mod.write_report(ds, out).text() if coverage else ""
        return PrepareResult(out, len(ds), int(old["skipped_no_face"]), 0, True, text)

    chunks, resumed = _open_chunks(out, state)
    (out / CROPS_DIR).mkdir(exist_ok=True)
    (out / MASKS_DIR).mkdir(exist_ok=True)
    processed = _track(source, out, options, chunks, progress)
    _finish(source, out, options, chunks, state)
    ds = load_dataset(out)
    text = coverage_mod.write_report(ds, out).text() if coverage else ""
    return PrepareResult(out, len(ds), chunks.skipped, processed, resumed, text)
