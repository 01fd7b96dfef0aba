"""Evaluate a target bundle on a video: self-reenactment or cross-identity driving.

*Self* (the clip is the target's own, frames not trained on): every frame's tracked face drives
the model; the render is compared with the real aligned crop of the same frame — L1, PSNR and
SSIM over the whole crop and inside the face mask, SSIM per face region (mouth, eyes, rest:
``latent.face_regions.region_masks``) and a sharpness ratio (``sharpness_ratio``: gradient
energy inside the face, render over real; 1.0 = as sharp as the real video) — and both are
re-tracked with MediaPipe (after upscaling to ``RETRACK_SIZE``, identically) for expression
accuracy: landmark error over
the inter-ocular distance, blendshape error per region (``facekit.blendshapes.REGION_GROUPS``),
and temporal jitter (frame-to-frame landmark motion of the render relative to the real crop's).
Three baselines go through exactly the same scoring in the same run: the *nearest training frame*
(by encoder features), the *nearest warp* (the training crop whose landmarks lie nearest the
driver's, warped along the mesh to them: ``nearest_warp_baseline``) and a *one-photo warp* of
the most neutral training crop to the driver's landmarks (``latent.photo.PhotoRig``).

*Cross* (another person drives): per-region Pearson correlation between the driver's blendshapes
and the re-tracked render's, and *identity leak*: how far the render's neutral face (re-tracked,
canonicalised, on the driver's most neutral frames) sits from the target's neutral, relative to
how far the driver's own neutral face is (0 = target shape kept, 1 = driver's shape copied),
and *lower-face wobble* (``lower_face_jerk``: the render's frame-to-frame second difference of
lips, chin and jaw against the driver's).

The driver → (points, blendshapes, pose) mapping is a parameter, so cross mode can run with the
raw driver geometry or through calibration's retargeting (``latentcam/eval_command.py``).
numpy/OpenCV/ONNX Runtime only — no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from latentcam.facekit.errors import InputError
from latentcam.facekit import landmarks as lm
from latentcam.facekit.blendshapes import REGION_GROUPS, indices
from latentcam.facekit.geometry import (alignment_matrix, canonicalize, head_pose,
                                        transform_points, warp_to_crop)
from latentcam.facekit.observation import FaceObservation

from .bundle import TargetBundle
from .face_regions import REGIONS, region_masks
from .features import expression_features
from .renderer import BundleRenderer, RendererOptions

RETRACK_SIZE = 256   # crops are re-tracked at this size whatever the model's resolution
NEUTRAL_FRACTION = 0.1

DriverFn = Callable[[FaceObservation], tuple[np.ndarray, np.ndarray, np.ndarray]]


def raw_driver(face: FaceObservation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The driver's own geometry, unretargeted: canonical points, blendshapes, head pose."""
    return (canonicalize(face.landmarks_px).points, face.blendshapes,
            np.asarray(head_pose(face.head_transform), dtype=np.float32))


@dataclass(frozen=True)
class EvalOptions:
    frames: str | None = None          # clip frame range "A:B" (clip frame numbers, B exclusive)
    out_dir: Path | None = None        # where report.json / report.md / side_by_side.png go
    train_data: Path | None = None     # dataset for the nearest-frame baseline (default: provenance)
    train_frames: str | None = None    # its trained range (default: from the bundle's provenance)
    baselines: bool = True
    max_frames: int | None = None
    panels: int = 6                    # frames shown in the side-by-side PNG
    threads: int = 2


class EvalError(InputError, ValueError):
    """The clip or the options cannot be evaluated (unreadable video, no face, bad range)."""


# --- metrics --------------------------------------------------------------------------------

def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (H, W, C) of two float images in [0, 1] (Gaussian σ = 1.5 window)."""
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a ** 2
    sbb = blur(b * b) - mu_b ** 2
    sab = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))


# Sharpness: the face mask is eroded by this fraction of the crop side before gradients are
# summed, so the face outline (the real frame's face/background edge, the render's own alpha
# edge when it is composited) never counts; 256² → 10 px, wider than the 3×3 gradient kernel
# plus the mask's feathering.
SHARPNESS_EDGE_FRACTION = 0.04


def _interior(mask: np.ndarray) -> np.ndarray:
    """bool (H, W): the face mask (≥ 0.5) eroded by ``SHARPNESS_EDGE_FRACTION`` of the side."""
    size = mask.shape[0]
    r = max(2, int(round(size * SHARPNESS_EDGE_FRACTION)))
    inside = (np.asarray(mask, np.float32) >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def gradient_energy(image: np.ndarray, region: np.ndarray) -> float:
    """Mean squared luminance gradient (Sobel, [0, 1] intensities) over the bool ``region``."""
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    g2 = gx * gx + gy * gy
    return float(g2[region].mean()) if region.any() else float("nan")


def sharpness_ratio(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> float:
    """How sharp the render is inside the face against the real frame: 1.0 = as sharp.

    No-reference on each image (it does not ask whether the detail is *right* — SSIM does
    that), compared between the two: the RMS luminance gradient inside the face mask of
    ``pred`` over that of ``real`` (uint8 BGR crops of one size; ``mask`` (H, W) in [0, 1] or
    0..255, usually the real frame's face mask). Gradient energy rather than the variance of
    the Laplacian: the Laplacian weighs the highest frequencies most, where pixel noise, codec
    blocks and a decoder's upsampling checkerboard live, so a noisy render can score "sharper"
    than the real video; the first derivative follows the loss of real edges (skin texture,
    lashes, lip lines), falls smoothly as blur grows and barely moves with mild noise
    (``benchmarks/latent/sharpness_measure.md`` measures both on real crops). The mask is eroded
    first (``SHARPNESS_EDGE_FRACTION``) so the outline of the face — and the render's own alpha
    edge — does not count. The square root makes it a ratio of edge contrasts. > 1 means
    more gradient than the real face (added texture or artefacts), not "better".
    """
    if pred.shape != real.shape:
        raise ValueError(f"pred and real differ in shape: {pred.shape} != {real.shape}")
    m = np.asarray(mask, np.float32)
    if m.max() > 1.0:
        m = m / 255.0
    region = _interior(m)
    e_real = gradient_energy(real, region)
    if not region.any() or not e_real > 0:
        return float("nan")
    return float(np.sqrt(gradient_energy(pred, region) / e_real))


def image_metrics(pred: np.ndarray, real: np.ndarray, mask: np.ndarray,
                  regions: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """One frame: uint8 BGR crops + mask in [0, 1] (H, W) → L1/PSNR/SSIM, crop and face, and
    the sharpness ratio. With ``regions`` (name → (H, W) mask in [0, 1], e.g. ``region_masks``
    of the real frame's crop landmarks) also ``ssim_<name>`` per region."""
    p = pred.astype(np.float32) / 255.0
    r = real.astype(np.float32) / 255.0
    w = mask.astype(np.float32)[..., None]
    err = np.abs(p - r)
    sq = (p - r) ** 2
    ssim = _ssim_map(p, r)
    wsum = max(float(w.sum()) * 3, 1e-6)
    mse_face = float((sq * w).sum() / wsum)
    out = {"crop_l1": float(err.mean()), "crop_psnr": float(10 * np.log10(1 / max(sq.mean(), 1e-10))),
           "crop_ssim": float(ssim.mean()), "face_l1": float((err * w).sum() / wsum),
           "face_psnr": float(10 * np.log10(1 / max(mse_face, 1e-10))),
           "face_ssim": float((ssim * w).sum() / wsum),
           "sharpness_ratio": sharpness_ratio(pred, real, mask)}
    for name, rm in (regions or {}).items():
        rw = np.asarray(rm, np.float32)[..., None]
        total = float(rw.sum()) * 3
        out[f"ssim_{name}"] = float((ssim * rw).sum() / total) if total > 0 else float("nan")
    return out


@dataclass
class _Track:
    """Re-tracked landmarks (crop pixels at RETRACK_SIZE) and blendshapes of one image sequence."""

    landmarks: list = field(default_factory=list)    # (478, 3) or None per frame
    blendshapes: list = field(default_factory=list)  # (52,) or None per frame


def retrack(images: list[np.ndarray]) -> _Track:
    """Track a sequence of crops (VIDEO mode, upscaled to RETRACK_SIZE)."""
    from latentcam.facekit.tracker import FaceTracker

    out = _Track()
    with FaceTracker() as tracker:
        for i, img in enumerate(images):
            if img.shape[0] != RETRACK_SIZE:
                img = cv2.resize(img, (RETRACK_SIZE, RETRACK_SIZE), interpolation=cv2.INTER_LINEAR)
            face = tracker.track(np.ascontiguousarray(img), i, i / 30.0).face
            out.landmarks.append(None if face is None else face.landmarks_px)
            out.blendshapes.append(None if face is None else face.blendshapes)
    return out


def expression_metrics(pred: _Track, ref: _Track) -> dict:
    """Re-tracked prediction vs re-tracked reference (same frames)."""
    both = [i for i, (a, b) in enumerate(zip(pred.landmarks, ref.landmarks))
            if a is not None and b is not None]
    tracked = sum(a is not None for a in pred.landmarks) / max(1, len(pred.landmarks))
    out: dict = {"render_tracked_fraction": round(tracked, 4)}
    if not both:
        return out
    errs = []
    for i in both:
        d = np.linalg.norm(pred.landmarks[i][:, :2] - ref.landmarks[i][:, :2], axis=1).mean()
        errs.append(d / max(lm.interocular_distance(ref.landmarks[i]), 1e-6))
    out["landmark_error_iod"] = float(np.mean(errs))
    bp = np.stack([pred.blendshapes[i] for i in both])
    br = np.stack([ref.blendshapes[i] for i in both])
    out["blendshape_mae"] = {r: float(np.abs(bp[:, indices(n)] - br[:, indices(n)]).mean())
                             for r, n in REGION_GROUPS.items()}
    out["blendshape_mae"]["all"] = float(np.mean(list(out["blendshape_mae"].values())))
    # Jitter: mean frame-to-frame landmark motion, render relative to reference (consecutive
    # frames tracked in both).
    pairs = [i for i in both if i - 1 in both]
    if pairs:
        mp = np.mean([np.linalg.norm(pred.landmarks[i][:, :2] - pred.landmarks[i - 1][:, :2], axis=1).mean()
                      for i in pairs])
        mr = np.mean([np.linalg.norm(ref.landmarks[i][:, :2] - ref.landmarks[i - 1][:, :2], axis=1).mean()
                      for i in pairs])
        out["render_motion_px"] = float(mp)
        out["reference_motion_px"] = float(mr)
        out["jitter_ratio"] = float(mp / max(mr, 1e-6))
    return out


def lower_face_jerk(driver_points, render_points, frame_index) -> dict | None:
    """Frame-to-frame wobble of the lower face (lips, chin, jaw: ``features.lower_face_points``)
    in canonical cm: the mean second difference ``|p[t-1] - 2 p[t] + p[t+1]|`` over runs of three
    consecutive frames, for the driver and for the re-tracked render, and their ratio. A smooth
    movement the render follows adds little to it; a render that flickers between shapes while
    the driver moves smoothly raises it above the driver's (ratio > 1). None without three
    consecutive frames."""
    from .features import lower_face_points

    points = lower_face_points()
    idx = np.asarray(frame_index)
    runs = [t for t in range(1, len(idx) - 1) if idx[t - 1] == idx[t] - 1 and idx[t + 1] == idx[t] + 1]
    if not runs:
        return None

    def jerk(seq) -> float:
        a = np.stack(seq)[:, points].astype(np.float64)
        return float(np.mean([np.linalg.norm(a[t - 1] - 2 * a[t] + a[t + 1], axis=1).mean() for t in runs]))
    d, r = jerk(driver_points), jerk(render_points)
    return {"driver_cm": d, "render_cm": r, "ratio": r / max(d, 1e-9), "triples": len(runs)}


def blendshape_correlations(driver_bs: np.ndarray, render_bs: np.ndarray) -> dict[str, dict]:
    """Per blendshape of ``REGION_GROUPS``: the driver's and the render's standard deviation and
    the Pearson r between driver and render (None unless it moves in the driver, sd > 0.02, and
    at all in the render). Where the render's sd is a small fraction of the driver's, the render
    holds still and r says little."""
    out: dict[str, dict] = {}
    for names in REGION_GROUPS.values():
        for name, j in zip(names, indices(names)):
            a, b = driver_bs[:, j], render_bs[:, j]
            r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0.02 and b.std() > 1e-6 else None
            out[name] = {"driver_sd": float(a.std()), "render_sd": float(b.std()), "r": r}
    return out


def region_correlation(driver_bs: np.ndarray, render_bs: np.ndarray) -> dict[str, float | None]:
    """Mean Pearson correlation per region over blendshapes that move in the driver."""
    each = blendshape_correlations(driver_bs, render_bs)
    out: dict[str, float | None] = {}
    for region, names in REGION_GROUPS.items():
        rs = [each[n]["r"] for n in names if each[n]["r"] is not None]
        out[region] = float(np.mean(rs)) if rs else None
    return out


def _aggregate(rows: list[dict]) -> dict[str, float]:
    """Mean of each metric over frames, ignoring frames where it is undefined (NaN)."""
    out: dict[str, float] = {}
    for k in (rows[0] if rows else {}):
        v = np.array([r[k] for r in rows], np.float64)
        out[k] = float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")
    return out


# --- reading the clip -----------------------------------------------------------------------

def _frame_range(spec: str | None) -> tuple[int, int | None]:
    if spec is None:
        return 0, None
    try:
        a, b = spec.split(":")
        return (int(a) if a else 0), (int(b) if b else None)
    except ValueError as exc:
        raise EvalError(f"--frames {spec!r} is not A:B (clip frame numbers, e.g. 58:72)") from exc


@dataclass
class _Driven:
    index: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    features: list = field(default_factory=list)
    renders: list = field(default_factory=list)     # (S, S, 4) uint8
    real: list = field(default_factory=list)        # (S, S, 3) uint8 aligned crop of the frame
    masks: list = field(default_factory=list)       # (S, S) float [0, 1]
    crop_landmarks: list = field(default_factory=list)  # (478, 3) real frame's, crop pixels
    canonical: list = field(default_factory=list)   # driver canonical points (identity check)
    skipped: int = 0


def drive(clip: Path, renderer: BundleRenderer, driver: DriverFn, options: EvalOptions) -> _Driven:
    from latentcam.facekit.tracker import FaceTracker

    from .dataset import face_mask

    from latentcam.facekit.sources import SourceError, VideoFileSource

    clip = Path(clip)
    try:
        source = VideoFileSource(clip)
    except SourceError as exc:
        raise EvalError(f"cannot open video {clip}: {exc}") from None
    start, stop = _frame_range(options.frames)
    fps = source.info.fps
    size = renderer.bundle.resolution
    out = _Driven()
    with source, FaceTracker() as tracker:
        while (frame_in := source.read()) is not None:
            i, frame = frame_in.index, frame_in.image
            if stop is not None and i >= stop:
                break
            # Track every frame from the start so VIDEO-mode tracking is warm at `start`.
            face = tracker.track(frame, i, i / fps).face
            if i < start:
                continue
            if face is None:
                out.skipped += 1
                continue
            points, blend, pose = driver(face)
            feats = expression_features(points, blend, pose)
            m = alignment_matrix(face.landmarks_px, size)
            out.index.append(i)
            out.faces.append(face)
            out.features.append(feats)
            out.renders.append(renderer.render(feats))
            out.real.append(warp_to_crop(frame, m, size))
            crop_lm = transform_points(face.landmarks_px, m)
            out.crop_landmarks.append(crop_lm)
            out.masks.append(face_mask(crop_lm, size).astype(np.float32) / 255.0)
            out.canonical.append(canonicalize(face.landmarks_px).points)
            if options.max_frames and len(out.index) >= options.max_frames:
                break
    if not out.index:
        raise EvalError(f"no face found in {clip} frames {options.frames or 'all'}; pick a clip "
                        f"(or range) where a face is visible")
    return out


# --- baselines ------------------------------------------------------------------------------

def _train_data(bundle: TargetBundle, options: EvalOptions):
    from .training_data import load_training_data, parse_frame_range

    prov = bundle.manifest.get("provenance", {})
    path = options.train_data or (Path(prov["dataset"]) if prov.get("dataset") else None)
    if path is None or not (Path(path) / "manifest.json").is_file():
        return None, f"training dataset not found ({path}); pass --train-data"
    data = load_training_data(Path(path), bundle.resolution)
    spec = options.train_frames or prov.get("training", {}).get("options", {}).get("frames")
    return data.subset(parse_frame_range(spec, len(data))), None


def nearest_frames(train_features: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the nearest training frame for each query (features standardised by training
    statistics, each scale floored at its median so near-constant features do not dominate)."""
    mean, std = train_features.mean(0), train_features.std(0)
    std = np.maximum(std, np.median(std))
    a = (train_features - mean) / std
    b = (query - mean) / std
    d = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None]
    return d.argmin(axis=1)


def neutral_reference(data) -> int:
    """Index of the most neutral training frame (least mouth/eye/brow blendshape energy) among
    those no hand covers (``TrainingData.occluded``; all frames when every one is covered)."""
    energy = data.blendshapes[:, indices(tuple(n for g in REGION_GROUPS.values() for n in g))].sum(1)
    if (~data.occluded).any():
        energy = np.where(data.occluded, np.inf, energy)
    return int(np.argmin(energy))


def training_crop_landmarks(data, size: int) -> np.ndarray:
    """(N, 478, 3) crop-pixel landmarks of ``data``'s frames, at ``size``² (its observations)."""
    from safetensors.numpy import load_file

    obs = load_file(str(data.path / "observations.safetensors"))
    keep = np.isin(obs["frame_index"], data.frame_index)
    return obs["crop_landmarks"][keep] * (size / float(data.manifest.get("crop_size", size)))


def warp_to_face(rig, canonical: np.ndarray, size: int) -> np.ndarray:
    """``rig``'s crop (a ``latent.photo.PhotoRig`` of a training crop) warped along the MediaPipe
    mesh to the face ``canonical`` (478, 3) at the crop's own head pose, re-aligned to a
    ``size``² crop."""
    target_px = rig.landmarks_from_canonical(canonical)
    return warp_to_crop(rig.render(target_px), alignment_matrix(target_px, size), size)


def photo_warp_baseline(data, driven: _Driven, size: int) -> list[np.ndarray]:
    """Warp the ``neutral_reference`` training crop to each driver frame's landmarks
    (one-photo warp)."""
    from .photo import PhotoRig

    j = neutral_reference(data)
    rig = PhotoRig(data.images[j], training_crop_landmarks(data, size)[j])
    return [warp_to_face(rig, pts, size) for pts in driven.canonical]


def landmark_distances(train_crop_landmarks: np.ndarray, query_crop_landmarks) -> np.ndarray:
    """(queries, train) mean distance between crop landmarks (x, y, crop pixels): expression and
    head pose at once, as the crop shows them."""
    train = np.asarray(train_crop_landmarks, np.float32)[:, :, :2]
    return np.stack([np.linalg.norm(train - np.asarray(q, np.float32)[None, :, :2], axis=2).mean(axis=1)
                     for q in query_crop_landmarks])


def nearest_landmarks(train_crop_landmarks: np.ndarray, query_crop_landmarks) -> np.ndarray:
    """Index of the training frame with the least ``landmark_distances`` to each query."""
    return landmark_distances(train_crop_landmarks, query_crop_landmarks).argmin(axis=1)


def nearest_warp_baseline(data, driven: _Driven, size: int) -> list[np.ndarray]:
    """The training crop with the ``nearest_landmarks`` to each driver frame's, warped to the
    driver's landmarks: real pixels moved the least way. On the Wolfgang clip's unseen frames it
    beats every decoder trained so far on face SSIM and re-tracked blendshapes, yet by eye keeps
    the chosen frame's own expression where the geometry differs
    (``benchmarks/latent/ssim_ceiling_WolfgangLanger_Pexels.md``)."""
    from .photo import PhotoRig

    crop_lm = training_crop_landmarks(data, size)
    rigs: dict[int, PhotoRig] = {}
    out = []
    for j, pts in zip(nearest_landmarks(crop_lm, driven.crop_landmarks), driven.canonical):
        if j not in rigs:
            rigs[j] = PhotoRig(data.images[j], crop_lm[j])
        out.append(warp_to_face(rigs[j], pts, size))
    return out


# --- the evaluations ------------------------------------------------------------------------

def _composite_bgr(render: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(render[..., :3])


def evaluate_self(bundle_dir: Path, clip: Path, options: EvalOptions = EvalOptions(),
                  driver: DriverFn = raw_driver) -> dict:
    """Self-reenactment report (see module docstring); writes files when ``options.out_dir``."""
    bundle = TargetBundle.load(bundle_dir)
    size = bundle.resolution
    with BundleRenderer(bundle, RendererOptions(options.threads)) as renderer:
        driven = drive(clip, renderer, driver, options)
    renders = [_composite_bgr(r) for r in driven.renders]
    candidates: dict[str, list[np.ndarray]] = {"model": renders}
    notes: dict[str, str] = {}
    if options.baselines:
        data, why = _train_data(bundle, options)
        if data is None:
            notes["nearest_frame"] = notes["nearest_warp"] = notes["photo_warp"] = why
        else:
            nn_idx = nearest_frames(data.features, np.stack(driven.features))
            candidates["nearest_frame"] = [data.images[j] for j in nn_idx]
            for name, baseline in (("nearest_warp", nearest_warp_baseline), ("photo_warp", photo_warp_baseline)):
                try:
                    candidates[name] = baseline(data, driven, size)
                except Exception as exc:  # the baselines are optional; say why one is missing
                    notes[name] = f"unavailable: {type(exc).__name__}: {exc}"
    ref_track = retrack(driven.real)
    report: dict = {"mode": "self", "bundle": bundle.name, "clip": Path(clip).name,
                    "frames": options.frames, "frames_evaluated": len(driven.index),
                    "frames_without_face": driven.skipped, "resolution": size,
                    "retrack_size": RETRACK_SIZE, "notes": notes}
    regions = [region_masks(c, size) for c in driven.crop_landmarks]
    for name, imgs in candidates.items():
        m = _aggregate([image_metrics(p, r, w, g)
                        for p, r, w, g in zip(imgs, driven.real, driven.masks, regions)])
        m.update(expression_metrics(retrack(imgs), ref_track))
        report[name] = m
    if options.out_dir:
        _write_outputs(Path(options.out_dir), report, driven,
                       [("driver crop", driven.real)] + [(k, v) for k, v in candidates.items()],
                       options.panels)
    return report


def evaluate_cross(bundle_dir: Path, clip: Path, options: EvalOptions = EvalOptions(),
                   driver: DriverFn = raw_driver) -> dict:
    """Cross-identity report: blendshape correlation per region and identity leak."""
    bundle = TargetBundle.load(bundle_dir)
    with BundleRenderer(bundle, RendererOptions(options.threads)) as renderer:
        driven = drive(clip, renderer, driver, options)
    renders = [_composite_bgr(r) for r in driven.renders]
    track = retrack(renders)
    ok = [i for i, l in enumerate(track.landmarks) if l is not None]
    report: dict = {"mode": "cross", "bundle": bundle.name, "clip": Path(clip).name,
                    "frames": options.frames, "frames_evaluated": len(driven.index),
                    "frames_without_face": driven.skipped,
                    "render_tracked_fraction": round(len(ok) / len(renders), 4)}
    if len(ok) >= 3:
        drv_bs = np.stack([driven.faces[i].blendshapes for i in ok])
        ren_bs = np.stack([track.blendshapes[i] for i in ok])
        report["blendshape_correlation"] = region_correlation(drv_bs, ren_bs)
        report["blendshape_correlation_each"] = blendshape_correlations(drv_bs, ren_bs)
        report["blendshape_mae"] = {r: float(np.abs(drv_bs[:, indices(n)] - ren_bs[:, indices(n)]).mean())
                                    for r, n in REGION_GROUPS.items()}
        names = tuple(n for g in REGION_GROUPS.values() for n in g)
        energy = drv_bs[:, indices(names)].sum(1)
        k = max(3, int(round(NEUTRAL_FRACTION * len(ok))))
        calm = np.argsort(energy)[:k]
        target = bundle.neutral_canonical
        render_canonical = [canonicalize(track.landmarks[i]).points for i in ok]
        render_neutral = np.mean([render_canonical[i] for i in calm], axis=0)
        driver_neutral = np.mean([driven.canonical[ok[i]] for i in calm], axis=0)
        rms = lambda a, b: float(np.sqrt(((a - b) ** 2).sum(1).mean()))  # noqa: E731
        leak, base = rms(render_neutral, target), rms(driver_neutral, target)
        report["identity"] = {"render_neutral_to_target_cm": leak,
                              "driver_neutral_to_target_cm": base,
                              "leak_ratio": leak / max(base, 1e-6),
                              "neutral_frames": int(k)}
        report["lower_face_jerk"] = lower_face_jerk(
            [driven.canonical[i] for i in ok], render_canonical, [driven.index[i] for i in ok])
    if options.out_dir:
        _write_outputs(Path(options.out_dir), report, driven,
                       [("driver crop", driven.real), ("render", renders)], options.panels)
    return report


# --- outputs --------------------------------------------------------------------------------

def _write_outputs(out: Path, report: dict, driven: _Driven, columns, panels: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(report_markdown(report))
    picks = np.linspace(0, len(driven.index) - 1, min(panels, len(driven.index))).round().astype(int)
    rows = []
    for i in picks:
        tiles = []
        for label, imgs in columns:
            tile = cv2.resize(imgs[i], (192, 192), interpolation=cv2.INTER_AREA).copy()
            cv2.putText(tile, f"{label} #{driven.index[i]}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, axis=1))
    cv2.imwrite(str(out / "side_by_side.png"), np.concatenate(rows, axis=0))


def report_markdown(r: dict) -> str:
    lines = [f"# {r['mode']} evaluation: {r['bundle']} driven by {r['clip']}", "",
             f"Frames {r.get('frames') or 'all'}: {r['frames_evaluated']} evaluated, "
             f"{r['frames_without_face']} without a face.", ""]
    if r["mode"] == "self":
        lines += ["| | face SSIM | SSIM mouth / eyes / rest | sharpness ratio | face PSNR | face L1 | "
                  "crop SSIM | crop PSNR | landmark err (IOD) | blendshape MAE mouth / eyes / brows | "
                  "jitter ratio | render tracked |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name in ("model", "nearest_frame", "nearest_warp", "photo_warp"):
            m = r.get(name)
            if not m:
                continue
            bs = m.get("blendshape_mae", {})
            f = lambda v, p=3: "–" if v is None or v != v else f"{v:.{p}f}"  # noqa: E731
            reg = " / ".join(f(m.get(f"ssim_{k}")) for k in REGIONS)
            lines.append(f"| {name} | {f(m['face_ssim'])} | {reg} | {f(m.get('sharpness_ratio'), 2)} | "
                         f"{f(m['face_psnr'], 2)} | {f(m['face_l1'])} | "
                         f"{f(m['crop_ssim'])} | {f(m['crop_psnr'], 2)} | {f(m.get('landmark_error_iod'))} | "
                         f"{f(bs.get('mouth'))} / {f(bs.get('eyes'))} / {f(bs.get('brows'))} | "
                         f"{f(m.get('jitter_ratio'), 2)} | {f(m.get('render_tracked_fraction'), 2)} |")
        lines += ["", "Sharpness ratio: RMS luminance gradient inside the (eroded) face mask, render "
                  "over the real frame (1.00 = as sharp as the real video). Region SSIM: mouth and "
                  "eyes from the real frame's landmarks, rest = the face mask without them. "
                  "Baselines: nearest_frame = the training crop with the nearest expression "
                  "features; nearest_warp = the training crop with the nearest landmarks, warped "
                  "along the face mesh onto the driver's; photo_warp = the most neutral training "
                  "crop warped the same way."]
        for k, v in r.get("notes", {}).items():
            lines.append(f"\n{k}: {v}")
    else:
        lines.append(f"Render re-tracked in {r['render_tracked_fraction']:.0%} of frames.")
        if "blendshape_correlation" in r:
            lines += ["", "| region | correlation driver ↔ render | MAE |", "|---|---|---|"]
            for reg, c in r["blendshape_correlation"].items():
                lines.append(f"| {reg} | {'–' if c is None else f'{c:.3f}'} | {r['blendshape_mae'][reg]:.3f} |")
            idn = r["identity"]
            lines += ["", f"Identity leak: render neutral is {idn['render_neutral_to_target_cm']:.3f} cm "
                      f"(RMS) from the target's neutral; the driver's own neutral is "
                      f"{idn['driver_neutral_to_target_cm']:.3f} cm away (leak ratio "
                      f"{idn['leak_ratio']:.2f}; 0 = target shape kept, 1 = driver's shape)."]
        jerk = r.get("lower_face_jerk")
        if jerk:
            lines += ["", f"Lower-face wobble (mean second difference of lips, chin and jaw over "
                      f"{jerk['triples']} runs of three frames): render {jerk['render_cm']:.4f} cm, "
                      f"driver {jerk['driver_cm']:.4f} cm (ratio {jerk['ratio']:.2f}; above 1 the "
                      "render flickers more than the driver moves)."]
    return "\n".join(lines) + "\n"
