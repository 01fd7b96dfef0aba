"""Does the hand check remove the ghost hand from renders? Same run, four models.

    .venv/bin/python benchmarks/latent/occlusion_training.py [--size 64] [--steps 240]

The Wolfgang clip is prepared once (``latentcam prepare``, hand check on) and copied three
times: one copy has all its occlusion data removed (how a dataset built before the hand check
loads: no frame flagged, every pixel valid); one keeps the per-frame flags but not the occluder
masks (reference frames such as the warp texture avoid occluded frames, but the hand's pixels
stay in the losses); one holds only the unoccluded training frames (206 of 378: the alternative
to masking, leaving those frames out). The same training (same seed, options and steps; frames
0–377, of which 172 have a hand over the face) runs on the full dataset and on each copy; then

* on the training frames where a hand covers the face, each model renders the frame's own
  expression and the covered face pixels are compared with the real crop (the hand) and with
  the nearest training frame *without* a hand (by encoder features): ``hand_likeness`` is the
  fraction of covered face pixels where the render is closer to the hand than to the uncovered
  face — a ghost hand scores high;
* on the held-out frames 378–471 (no hand in them) ``latentcam eval``'s metrics: face SSIM,
  SSIM per region, sharpness ratio, re-tracked blendshape error.

Writes ``occlusion_training.json`` / ``.md`` next to this script and
``side_by_side_occlusion_training*.png`` (third-party clip: never committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from latentcam.realtime.bench import cpu_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIP = REPO / ".cache" / "testdata" / "WolfgangLanger_Pexels.mp4"
TRAIN_FRAMES = "0:378"
TAGS = ("before", "flags only", "after", "left out")
HELD_OUT = "378:472"


def _strip_occlusion(src: Path, dst: Path) -> None:
    """``dst``: ``src`` as a dataset built before the hand check (no occlusion data)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(src, dst)
    shutil.rmtree(dst / "occlusion", ignore_errors=True)
    arrays = load_file(str(dst / "observations.safetensors"))
    for k in ("hand_count", "hand_landmarks", "occluded_parts", "occluded_fraction"):
        arrays.pop(k, None)
    save_file(arrays, str(dst / "observations.safetensors"))
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.pop("occlusion", None)
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _strip_masks(src: Path, dst: Path) -> None:
    """``dst``: ``src`` with its per-frame occlusion flags but without occluder masks."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "occlusion", ignore_errors=True)


def _leave_out(src: Path, dst: Path, train_stop: int) -> None:
    """``dst``: the training part (clip frames < ``train_stop``) of ``src`` without its occluded
    frames — the alternative to masking: leave those frames out altogether."""
    from safetensors.numpy import load_file, save_file

    from latentcam.latent.dataset import crop_name, load_dataset

    ds = load_dataset(src)
    keep = np.flatnonzero(~ds.occluded & (ds.frame_index < train_stop))
    for sub in ("crops", "masks", "occlusion"):
        (dst / sub).mkdir(parents=True)
    for new, old in enumerate(keep):
        for sub in ("crops", "masks"):
            shutil.copy(src / sub / crop_name(int(old)), dst / sub / crop_name(new))
    arrays = {k: v[keep] for k, v in load_file(str(src / "observations.safetensors")).items()}
    save_file(arrays, str(dst / "observations.safetensors"))
    shutil.copy(src / "background.png", dst / "background.png")
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["frames"] = int(len(keep))
    bg = int(np.flatnonzero(ds.frame_index[keep] == manifest["background_frame"])[0]) \
        if manifest["background_frame"] in set(ds.frame_index[keep].tolist()) else 0
    manifest["background_dataset_index"] = bg
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _texture_frame(bundle: Path, data) -> tuple[int, float]:
    """The training frame nearest (mean abs difference, 0..255) to the trained warp texture."""
    from safetensors.numpy import load_file

    w = load_file(str(bundle / "weights.safetensors"))
    if "decoder.texture" not in w:
        return -1, float("nan")
    tex = w["decoder.texture"].astype(np.float32)[0].transpose(1, 2, 0)
    tex = tex * 255.0 if tex.max() <= 1.5 else tex
    d = np.abs(data.images.astype(np.float32) - tex).mean(axis=(1, 2, 3))
    return int(data.frame_index[int(d.argmin())]), round(float(d.min()), 1)


def _ghost(bundle: Path, data, picks: np.ndarray) -> tuple[dict, list[np.ndarray]]:
    """Renders of the occluded training frames ``picks`` and how hand-like they are."""
    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.evaluate import nearest_frames
    from latentcam.latent.renderer import BundleRenderer

    clean = np.flatnonzero(~data.occluded)
    near = clean[nearest_frames(data.features[clean], data.features[picks])]
    closer, l1_hand, renders = [], [], []
    with BundleRenderer(TargetBundle.load(bundle)) as r:
        for i, j in zip(picks, near):
            img = np.ascontiguousarray(r.render(data.features[i])[..., :3])
            renders.append(img)
            region = (data.occlusion[i] >= 128) & (data.masks[i] >= 128)
            p = img.astype(np.float32)
            d_hand = np.abs(p - data.images[i]).mean(-1)[region]
            d_clean = np.abs(p - data.images[j]).mean(-1)[region]
            closer.append(float((d_hand < d_clean).mean()))
            l1_hand.append(float(d_hand.mean() / 255.0))
    return {"hand_likeness": round(float(np.mean(closer)), 3),
            "l1_to_hand": round(float(np.mean(l1_hand)), 4), "frames": int(len(picks))}, renders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=240, help="training steps per model")
    ap.add_argument("--minutes", type=float, default=None,
                    help="time budget per model instead of --steps (steps then depend on load)")
    ap.add_argument("--work", type=Path, default=None, help="keep datasets/bundles here")
    ap.add_argument("--note", default="other helpers' jobs running",
                    help="machine state written into the report")
    a = ap.parse_args()

    import torch

    from latentcam.latent.dataset import PrepareOptions, VideoSource, prepare
    from latentcam.latent.evaluate import EvalOptions, evaluate_self
    from latentcam.latent.train import TrainOptions, train
    from latentcam.latent.training_data import load_training_data, parse_frame_range

    work = a.work or Path(tempfile.mkdtemp(prefix="occlusion_training_"))
    work.mkdir(parents=True, exist_ok=True)
    masked_data = work / "data_masked"
    prepare(VideoSource(CLIP), masked_data, PrepareOptions(size=max(128, a.size)), coverage=False)
    plain_data = work / "data_unmasked"
    if not plain_data.exists():
        _strip_occlusion(masked_data, plain_data)
    flags_data = work / "data_flags_only"
    if not flags_data.exists():
        _strip_masks(masked_data, flags_data)
    left_out_data = work / "data_left_out"
    if not left_out_data.exists():
        _leave_out(masked_data, left_out_data, int(TRAIN_FRAMES.split(":")[1]))

    full = load_training_data(masked_data, a.size)
    data = full.subset(parse_frame_range(TRAIN_FRAMES, len(full)))
    occ = np.flatnonzero(data.occluded)
    picks = occ[np.linspace(0, len(occ) - 1, min(24, len(occ))).round().astype(int)]

    rows, renders, held = {}, {}, {}
    variants = (("no occlusion data (before)", plain_data, TRAIN_FRAMES),
                ("frames flagged, hand pixels in the loss", flags_data, TRAIN_FRAMES),
                ("frames flagged, hand pixels masked out (after)", masked_data, TRAIN_FRAMES),
                ("occluded frames left out", left_out_data, None))
    for name, ds, frames in variants:
        out = work / ("bundle_" + ds.name)
        t0 = time.perf_counter()
        train(TrainOptions(ds, out, size=a.size, steps=a.steps if a.minutes is None else 100_000,
                           max_minutes=a.minutes,
                           frames=frames, seed=0, progress=False, resume=False,
                           licence="benchmark only", consent="benchmark only"))
        seconds = time.perf_counter() - t0
        steps = json.loads((out / "manifest.json").read_text())["provenance"]["training"]["steps"]
        texture, texture_diff = _texture_frame(out, data)
        ghost, renders[name] = _ghost(out, data, picks)
        ev_dir = work / ("eval_" + ds.name)
        report = evaluate_self(out, CLIP, EvalOptions(frames=HELD_OUT, out_dir=ev_dir,
                                                      train_data=masked_data,
                                                      train_frames=TRAIN_FRAMES))
        held[name] = [cv2.imread(str(ev_dir / "side_by_side.png"))]
        m = report["model"]
        rows[name] = {"steps": steps, "train_s": round(seconds, 1), "texture_frame": texture,
                      "texture_frame_occluded": bool(texture in set(data.frame_index[data.occluded].tolist())),
                      "texture_mean_abs_diff": texture_diff, **ghost,
                      "held_out": {k: round(m[k], 4) for k in
                                   ("face_ssim", "ssim_mouth", "ssim_eyes", "ssim_rest",
                                    "sharpness_ratio", "face_psnr")},
                      "held_out_blendshape_mae": {k: round(v, 4) for k, v in
                                                  m.get("blendshape_mae", {}).items()},
                      "nearest_frame_face_ssim": round(report["nearest_frame"]["face_ssim"], 4)}

    # PNG: occluded training frames — real crop, then each model's render of its expression.
    tiles = []
    for k in range(0, len(picks), max(1, len(picks) // 6))[:6]:
        i = picks[k]
        row = [data.images[i]] + [renders[n][k] for n in rows]
        row = [cv2.resize(t, (192, 192), interpolation=cv2.INTER_LINEAR) for t in row]
        cv2.putText(row[0], f"train frame {int(data.frame_index[i])}", (4, 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        for t, tag in zip(row[1:], TAGS):
            cv2.putText(t, tag, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)
        tiles.append(np.concatenate(row, axis=1))
    cv2.imwrite(str(HERE / "side_by_side_occlusion_training.png"), np.concatenate(tiles, axis=0))
    for (n, (img,)), tag in zip(held.items(), TAGS):
        name = f"side_by_side_occlusion_training_heldout_{tag.replace(' ', '_')}.png"
        cv2.imwrite(str(HERE / name), img)

    load = os.getloadavg()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": a.size,
              "steps_per_model": a.steps if a.minutes is None else None,
              "minutes_per_model": a.minutes, "train_frames": TRAIN_FRAMES, "held_out": HELD_OUT,
              "occluded_train_frames": int(data.occluded.sum()), "train_frames_n": len(data),
              "torch": torch.__version__, "cpu": cpu_name(),
              "cores": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in load],
              "note": a.note, "rows": rows}
    (HERE / "occlusion_training.json").write_text(json.dumps(result, indent=1))
    md = ["# Occluded pixels in the training loss: ghost hand before and after", "",
          f"Wolfgang clip, trained on frames {TRAIN_FRAMES} ({result['occluded_train_frames']} of "
          f"{len(data)} with a hand over the face), {a.size}², `--preset cpu` defaults, seed 0, "
          + (f"{a.steps} steps" if a.minutes is None else f"{a.minutes:g} minutes")
          + " each, one after the other in one run (*left out*: the unoccluded training frames "
          "only). *Texture*: the training "
          "frame nearest the trained warp texture (its initial frame, moved by training). "
          "*Hand-likeness*: on the occluded training frames, the fraction of covered face pixels "
          "where the render is closer to the real crop (the hand) than to the nearest uncovered "
          "training frame. Held-out: `latentcam eval` on frames "
          f"{HELD_OUT} (no hand). torch {torch.__version__}; {os.cpu_count()} CPU cores, "
          f"{a.note}, load average {load[0]:.1f}; {result['date']}.", "",
          "| training | steps | texture (occluded?) | hand-likeness ↓ | L1 to the hand ↑ | "
          "held-out face SSIM | SSIM mouth / eyes / rest | sharpness ratio | "
          "blendshape MAE mouth / eyes / brows |",
          "|---|---|---|---|---|---|---|---|---|"]
    for n, r in rows.items():
        h, b = r["held_out"], r["held_out_blendshape_mae"]
        occl = "yes" if r["texture_frame_occluded"] else "no"
        md.append(f"| {n} | {r['steps']} | {r['texture_frame']} ({occl}) | "
                  f"{r['hand_likeness']:.3f} | {r['l1_to_hand']:.3f} | "
                  f"{h['face_ssim']:.3f} | {h['ssim_mouth']:.3f} / {h['ssim_eyes']:.3f} / "
                  f"{h['ssim_rest']:.3f} | {h['sharpness_ratio']:.2f} | "
                  f"{b.get('mouth', float('nan')):.3f} / {b.get('eyes', float('nan')):.3f} / "
                  f"{b.get('brows', float('nan')):.3f} |")
    md += ["", f"Nearest training frame on the held-out part: face SSIM "
           f"{next(iter(rows.values()))['nearest_frame_face_ssim']:.3f}. "
           "`side_by_side_occlusion_training.png` (not committed): occluded training frames, "
           "real crop | " + " | ".join(TAGS) + "."]
    (HERE / "occlusion_training.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
