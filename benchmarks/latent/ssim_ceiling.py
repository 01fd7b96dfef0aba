"""How far face SSIM on unseen frames can go by reusing training frames: issue #11 item 4's gap.

    .venv/bin/python benchmarks/latent/ssim_ceiling.py \
        [--clip .cache/testdata/WolfgangLanger_Pexels.mp4] [--bundle DIR] [--work .cache/bench/fidelity]

Item 4 asks face SSIM ≥ 0.78 on the Wolfgang clip's later 20 % for a model trained on the earlier
80 %; ``fidelity.py`` measured 0.698 for the warping decoder and 0.622 for the nearest training
frame (chosen by expression features). This script scores, on exactly ``fidelity.py``'s held-out
frames, crops and masks, what no model trained on those frames can easily beat, in one run:

- the model (``--bundle``, default the 60-minute warping decoder of ``fidelity.py``) and the
  nearest training frame, as ``fidelity.py`` scores them (a check that this run reproduces it);
- the *best* training frame for each held-out frame, picked by looking at the answer (the
  frame with the highest face SSIM against it): a bound for any method that shows one training
  crop as it is (retrieval, exemplar textures without moving them);
- the best training frame *per region* (mouth, eyes, rest of the face each from its own best
  frame, area-weighted into a face score): a bound for region-wise retrieval;
- training frames *moved* to the held-out frame's face: the nearest frames (by expression features;
  by landmark positions in the crop, one or two mixed) warped along the
  MediaPipe mesh to the held-out landmarks (``latent.evaluate.warp_to_face``; the one nearest
  by landmarks is ``latentcam eval``'s ``nearest_warp`` baseline; a method that could run
  live), and the best of the
  ``WARP_CANDIDATES`` frames with the highest unwarped SSIM, each warped (sees the answer);
- the real video itself 1 and 3 frames earlier (aligned the same way): how much face SSIM
  real footage loses in 1/30 s and 1/10 s of her motion.

Writes ``ssim_ceiling_<clip>.json`` / ``.md`` here; a PNG grid (real | model | nearest | best
training frame | best warped) goes to ``--work`` only: the clip is a third party's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TRAIN_FRACTION = 0.8          # fidelity.py's split
REGION_NAMES = ("mouth", "eyes", "rest")
WARP_CANDIDATES = 8           # best unwarped frames tried warped, per held-out frame
# Candidates that see only what a renderer sees (the driver's face), not the answer.
LIVE = ("model", "nearest_frame", "nearest_frame_warped", "nearest_by_landmarks_warped",
        "two_nearest_by_landmarks_warped")


def face_and_region_ssim(pred: np.ndarray, real: np.ndarray, mask: np.ndarray,
                         regions: dict[str, np.ndarray]) -> np.ndarray:
    """(4,) face SSIM and SSIM per ``REGION_NAMES``, weighted as ``latent.evaluate.image_metrics``."""
    from latentcam.latent.evaluate import _ssim_map

    ssim = _ssim_map(pred.astype(np.float32) / 255.0, real.astype(np.float32) / 255.0).mean(axis=2)
    out = [float((ssim * mask).sum() / max(mask.sum(), 1e-6))]
    for name in REGION_NAMES:
        w = regions[name]
        out.append(float((ssim * w).sum() / w.sum()) if w.sum() > 0 else float("nan"))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=REPO / ".cache/testdata/WolfgangLanger_Pexels.mp4")
    ap.add_argument("--work", type=Path, default=REPO / ".cache/bench/fidelity")
    ap.add_argument("--bundle", type=Path, default=None,
                    help="model to score beside the bounds (default: fidelity.py's 60-minute warping decoder)")
    a = ap.parse_args()

    import cv2
    from safetensors.numpy import load_file

    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.photo import PhotoRig
    from latentcam.latent.evaluate import (EvalOptions, drive, expression_metrics, landmark_distances,
                                           nearest_frames, raw_driver, retrack, sharpness_ratio,
                                           training_crop_landmarks, warp_to_face)
    from latentcam.latent.face_regions import region_masks
    from latentcam.latent.renderer import BundleRenderer, RendererOptions
    from latentcam.latent.training_data import load_training_data, read_manifest
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    data_dir = a.work / f"data_{a.clip.stem}"
    bundle_dir = a.bundle or a.work / f"{a.clip.stem}_s256_m60_seed0_old"
    cut = int(round(TRAIN_FRACTION * int(read_manifest(data_dir)["frames"])))
    first_held = int(load_file(str(data_dir / "observations.safetensors"))["frame_index"][cut])
    bundle = TargetBundle.load(bundle_dir)
    size = bundle.resolution
    with BundleRenderer(bundle, RendererOptions(2)) as renderer:
        # From the clip's start, so the earlier real frames of the first held-out ones are there.
        driven = drive(a.clip, renderer, raw_driver, EvalOptions(frames=f"{first_held - 3}:"))
    train = load_training_data(data_dir, size)
    train = train.subset(np.arange(len(train)) < cut)
    held = [k for k, i in enumerate(driven.index) if i >= first_held]
    position = {i: k for k, i in enumerate(driven.index)}
    nn_idx = nearest_frames(train.features, np.stack([driven.features[k] for k in held]))
    crop_lm = training_crop_landmarks(train, size)

    rigs: dict[int, PhotoRig] = {}

    def rig(j: int) -> PhotoRig:
        """Training crop ``j``'s mesh rig, built the first time it is asked for."""
        if j not in rigs:
            rigs[j] = PhotoRig(train.images[j], crop_lm[j])
        return rigs[j]

    def warped(j: int, k: int) -> np.ndarray:
        """Training crop ``j`` warped along the mesh to held-out frame ``k``'s face."""
        return warp_to_face(rig(j), driven.canonical[k], size)

    d_landmarks = landmark_distances(crop_lm, [driven.crop_landmarks[k] for k in held])
    images: dict[str, list[np.ndarray]] = {k: [] for k in (*LIVE, "best_training_frame", "best_training_frame_warped")}
    scores: dict[str, list[np.ndarray]] = {k: [] for k in (
        *images, "best_training_frame_per_region", "real_1_frame_earlier", "real_3_frames_earlier")}
    warp_seconds: list[float] = []

    def warped_timed(j: int, k: int) -> np.ndarray:
        """``warped``, timing the warp alone (the crop's rig built beforehand, as a renderer would)."""
        rig(j)
        t = time.perf_counter()
        out = warped(j, k)
        warp_seconds.append(time.perf_counter() - t)
        return out

    for n, k in enumerate(held):
        real, mask = driven.real[k], driven.masks[k]
        regions = region_masks(driven.crop_landmarks[k], size)
        score = lambda img: face_and_region_ssim(img, real, mask, regions)  # noqa: E731
        every = np.stack([score(img) for img in train.images])            # (train, 4)
        order = np.argsort(d_landmarks[n])
        w = 1.0 / (d_landmarks[n, order[:2]] + 1e-3)
        pair = [warped_timed(int(j), k).astype(np.float32) for j in order[:2]]
        tries = [warped(int(j), k) for j in np.argsort(-every[:, 0])[:WARP_CANDIDATES]]
        frame = {"model": np.ascontiguousarray(driven.renders[k][..., :3]),
                 "nearest_frame": train.images[nn_idx[n]],
                 "best_training_frame": train.images[int(np.argmax(every[:, 0]))],
                 "nearest_frame_warped": warped(int(nn_idx[n]), k),
                 "nearest_by_landmarks_warped": pair[0].astype(np.uint8),
                 "two_nearest_by_landmarks_warped": np.clip((w[0] * pair[0] + w[1] * pair[1]) / w.sum(),
                                                            0, 255).astype(np.uint8),
                 "best_training_frame_warped": max(tries, key=lambda img: score(img)[0])}
        for name, img in frame.items():
            images[name].append(img)
            scores[name].append(score(img))
        per_region = np.nanmax(every[:, 1:], axis=0)
        area = np.array([regions[r].sum() for r in REGION_NAMES])
        scores["best_training_frame_per_region"].append(
            np.concatenate([[float((per_region * area).sum() / area.sum())], per_region]))
        for lag, key in ((1, "real_1_frame_earlier"), (3, "real_3_frames_earlier")):
            earlier = position.get(driven.index[k] - lag)
            if earlier is not None:
                scores[key].append(score(driven.real[earlier]))
        if n % 10 == 0:
            print(f"frame {driven.index[k]}: model {scores['model'][-1][0]:.3f}, nearest by landmarks "
                  f"warped {scores['nearest_by_landmarks_warped'][-1][0]:.3f}", flush=True)

    # Frame-to-frame change (mean |difference| in grey levels inside the face mask) between
    # consecutive held-out frames: how much each candidate's picture moves, against the video's.
    steps = [(n - 1, n) for n in range(1, len(held)) if driven.index[held[n]] == driven.index[held[n - 1]] + 1]

    def change(seq) -> float:
        return float(np.mean([np.abs(seq[b].astype(np.float32) - seq[a].astype(np.float32)).mean(axis=2)[
            driven.masks[held[b]] >= 0.5].mean() for a, b in steps]))
    motion = {name: change(seq) for name, seq in images.items()}
    motion["real video"] = change([driven.real[k] for k in held])
    table = {name: {"frames": len(v), **{k: round(float(x), 4) for k, x in
                                         zip(("face",) + REGION_NAMES, np.nanmean(np.stack(v), axis=0))}}
             for name, v in scores.items() if v}
    for name, m in motion.items():
        table.setdefault(name, {})["frame_change"] = round(m, 3)
    ref_track = retrack([driven.real[k] for k in held])
    for name in LIVE:
        expression = expression_metrics(retrack(images[name]), ref_track)
        table[name]["blendshape_mae"] = {r: round(v, 4) for r, v in expression.get("blendshape_mae", {}).items()}
        table[name]["jitter_ratio"] = round(expression.get("jitter_ratio", float("nan")), 3)
        table[name]["sharpness_ratio"] = round(float(np.nanmean(
            [sharpness_ratio(img, driven.real[k], driven.masks[k]) for img, k in zip(images[name], held)])), 3)
    warp_ms = {"p50": round(1000 * float(np.median(warp_seconds)), 2),
               "p90": round(1000 * float(np.percentile(warp_seconds, 90)), 2), "calls": len(warp_seconds)}
    picks = np.linspace(0, len(held) - 1, 6).round().astype(int)
    tiles = []
    for p in picks:
        k = held[p]
        row = [driven.real[k]] + [images[name][p] for name in (
            "model", "nearest_frame", "nearest_by_landmarks_warped", "best_training_frame_warped")]
        tiles.append(np.concatenate(row, axis=1))
    a.work.mkdir(parents=True, exist_ok=True)
    grid = a.work / f"ssim_ceiling_{a.clip.stem}.png"
    cv2.imwrite(str(grid), np.concatenate(tiles, axis=0))

    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1),
            "bundle": str(bundle_dir.relative_to(REPO) if bundle_dir.is_relative_to(REPO) else bundle_dir),
            "train_frames": f"0:{cut}", "heldout_clip_frames": f"{first_held}:", "grid": str(grid),
            "warp_ms": warp_ms}
    stem = f"ssim_ceiling_{a.clip.stem}"
    (HERE / f"{stem}.json").write_text(json.dumps({"meta": meta, "table": table}, indent=1, default=str))
    labels = {"model": f"model (`{bundle_dir.name}`)",
              "nearest_frame": "nearest training frame by expression features (fidelity.py's baseline)",
              "nearest_frame_warped": "nearest training frame by expression features, warped to the held-out face's landmarks",
              "nearest_by_landmarks_warped": "training frame with the nearest landmarks (crop pixels), warped to them",
              "two_nearest_by_landmarks_warped": "the two with the nearest landmarks, warped, mixed by inverse distance",
              "best_training_frame": "*best training frame, picked by its SSIM against the answer*",
              "best_training_frame_per_region": "*best training frame per region (mouth, eyes, rest each its own)*",
              "best_training_frame_warped": f"*best of the {WARP_CANDIDATES} best training frames, each warped to the held-out face's landmarks*",
              "real_1_frame_earlier": "the real video 1 frame earlier",
              "real_3_frames_earlier": "the real video 3 frames earlier",
              "real video": "the real video"}
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    md = [f"# Face SSIM on unseen frames: what reusing training frames can reach ({a.clip.name})", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; load "
          f"average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the end; "
          f"made by `benchmarks/latent/ssim_ceiling.py` ({meta['seconds']:.0f} s). Training frames: "
          f"dataset {meta['train_frames']} of `fidelity.py`'s split; held-out clip frames "
          f"{meta['heldout_clip_frames']}, scored as `fidelity.py` scores them (face mask and "
          "regions from the real frame's landmarks). Issue #11 item 4 asks face SSIM ≥ 0.78. Rows in "
          "*italics* pick by looking at the answer: bounds, not methods.", "",
          "| candidate | frames | face SSIM | mouth | eyes | rest | blendshape MAE mouth / eyes / brows | "
          "sharpness ratio | jitter ratio | change per frame (grey levels) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in table.items():
        if "face" not in row:
            continue
        bs = row.get("blendshape_mae")
        md.append(f"| {labels[name]} | {row['frames']} | {row['face']:.3f} | {row['mouth']:.3f} | "
                  f"{row['eyes']:.3f} | {row['rest']:.3f} | "
                  + (" / ".join(fmt(bs.get(r)) for r in ("mouth", "eyes", "brows")) if bs else "–")
                  + f" | {fmt(row.get('sharpness_ratio'))} | {fmt(row.get('jitter_ratio'))} | "
                  f"{fmt(row.get('frame_change'))} |")
    md.append(f"| {labels['real video']} | | | | | | | | | {motion['real video']:.3f} |")
    t = {k: table[k]["face"] for k in table if "face" in table[k]}
    md += ["", f"Warping one training crop along the mesh (`latent.evaluate.warp_to_face`, its "
           "`latent.photo.PhotoRig` built once per crop beforehand; 256²): "
           f"{warp_ms['p50']:.1f} ms p50, {warp_ms['p90']:.1f} ms p90 ({warp_ms['calls']} calls, one "
           "thread, Python).", "",
           "How to read: showing training crops as they are cannot pass 0.78 even when the answer "
           f"picks them ({t['best_training_frame']:.3f} for the best frame, "
           f"{t['best_training_frame_per_region']:.3f} region by region), and the model reaches that "
           f"bound ({t['model']:.3f}). Moving them to the held-out face is what counts: the training "
           "frame whose landmarks lie nearest the held-out frame's, warped along the MediaPipe mesh "
           f"to them, reaches {t['nearest_by_landmarks_warped']:.3f} without seeing the answer, "
           f"{t['two_nearest_by_landmarks_warped']:.3f} mixing two; the answer's own pick among "
           f"the {WARP_CANDIDATES} closest-looking frames, warped, {t['best_training_frame_warped']:.3f}. "
           "The frame chosen by expression features instead of landmark positions (which also carry "
           f"head pose) gains little from the warp ({t['nearest_frame_warped']:.3f}). The real video "
           "1 and 3 frames earlier shows how fast her own motion costs SSIM.", ""]
    (HERE / f"{stem}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
