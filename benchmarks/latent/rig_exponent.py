"""Experiment (not shipped): a lower-face rig on score changes raised to a power below 1.

    .venv/bin/python benchmarks/latent/rig_exponent.py

MediaPipe's mouth scores respond to the face's shape with a dead zone: a pucker reads near 0
until the lips have narrowed a fair way (``pucker_synthesis.md``), and a small jawOpen stands for
more jaw drop than a straight line through the large ones says. ``facekit.rig`` is linear in the
score change; this script tries φ(x) = x^p above rest (linear below) for p in ``EXPONENTS``, the
rig refitted on φ of the same data (``latent.export.rig_regression_data``) with the same ridge
as ``latent.export.fit_blendshape_rig`` fits the linear one, and reports
in one run:

1. how well each p predicts frames the rig was not fitted on, on four training sets (the
   embedded target's one-photo data, the earlier one-photo data, and the two sample clips'
   ``fidelity.py`` datasets): 5-fold cross-validation with random folds and with contiguous
   stretches of frames;
2. extrapolation to unseen expressions: fitted on the Wolfgang clip's first half (she cries),
   placing the second half (she laughs) from its scores alone (error over the neutral's);
3. the embedded target driven by the sample clips (live default) with each p (the per-region
   correlation of ``cross_default_compare.md``, and the retargeted lower face's mean motion per
   frame, a proxy for added jitter).

Writes ``rig_exponent.json`` / ``.md`` here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPONENTS = (0.4, 0.5, 0.6, 0.75, 1.0)
DATASETS = {"embedded target (one photo, v4)": ".cache/default_target/data4",
            "one photo, v3 synthesis": ".cache/default_target/data3",
            "Wolfgang clip": ".cache/bench/fidelity/data_WolfgangLanger_Pexels",
            "single_face clip": ".cache/bench/fidelity/data_single_face"}
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


def phi(x: np.ndarray, p: float) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.where(x > 0.0, np.abs(x) ** p, x)


def solve(x, y, p):
    from latentcam.latent.export import ridge_through_origin

    return ridge_through_origin(phi(x, p), y)


def cv_error(x, y, p, contiguous: bool, folds: int = 5) -> float:
    fold = ((np.arange(len(x)) * folds) // len(x) if contiguous
            else np.random.default_rng(0).permutation(len(x)) % folds)
    err = []
    for k in range(folds):
        fit, held = fold != k, fold == k
        miss = (phi(x[held], p) @ solve(x[fit], y[fit], p) - y[held]).reshape(int(held.sum()), -1, 3)
        err.append(float(np.linalg.norm(miss, axis=2).mean()))
    return float(np.mean(err))


def main() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from support.tracking import tracked_frames

    from latentcam.eval_command import calibrated_driver
    from latentcam.facekit.geometry import canonicalize
    from latentcam.facekit.rig import BlendshapeRig
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross
    from latentcam.latent.export import rig_regression_data, target_neutral_rows
    from latentcam.latent.training_data import load_training_data
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    cv = {}
    for name, folder in DATASETS.items():
        if not (REPO / folder / "manifest.json").is_file():
            print(f"skipping {name}: {folder} not built", flush=True)
            continue
        x, y, _, _ = rig_regression_data(load_training_data(REPO / folder))
        cv[name] = {kind: {p: cv_error(x, y, p, kind == "contiguous") for p in EXPONENTS}
                    for kind in ("random", "contiguous")}
        print(name, cv[name], flush=True)

    faces = [f for _, _, f in tracked_frames(REPO / ".cache/testdata/WolfgangLanger_Pexels.mp4") if f is not None]
    half = len(faces) // 2

    def observations(fs):
        return SimpleNamespace(canonical=np.stack([canonicalize(f.landmarks_px).points for f in fs]).astype(np.float32),
                               blendshapes=np.stack([f.blendshapes for f in fs]), occluded=np.zeros(len(fs), bool),
                               manifest={}, frame_index=np.arange(len(fs)))
    first, second = observations(faces[:half]), observations(faces[half:])
    x, y, points, columns = rig_regression_data(first)
    calm = target_neutral_rows(first)
    neutral = first.canonical[calm].mean(axis=0)[points]
    rest = first.blendshapes[calm][:, columns].mean(axis=0)
    truth = second.canonical[:, points]
    still = float(np.linalg.norm(truth - neutral, axis=2).mean())
    split = {}
    for p in EXPONENTS:
        placed = neutral + (phi(second.blendshapes[:, columns] - rest, p) @ solve(x, y, p)).reshape(len(truth), -1, 3)
        split[p] = float(np.linalg.norm(truth - placed, axis=2).mean()) / still

    bundle = REPO / "latentcam/assets/default_target"
    data = load_training_data(REPO / DATASETS["embedded target (one photo, v4)"])
    x, y, points, columns = rig_regression_data(data)
    cross = {}
    for p in EXPONENTS:
        a = solve(x, y, p)
        disp = np.zeros((52, len(points), 3))
        disp[columns] = a.reshape(len(columns), len(points), 3)

        class PowerRig(BlendshapeRig):
            def offsets(self, delta, p=p):
                return BlendshapeRig.offsets(self, phi(delta, p))

        rig = PowerRig(points, disp)
        for clip in CLIPS:
            driver = calibrated_driver(bundle, None)
            driver.retargeter.target = replace(driver.retargeter.target, blendshape_rig=rig)
            lower = []

            def recording(face, live=driver):
                out = live(face)
                lower.append(np.asarray(out[0])[points].copy())
                return out
            r = evaluate_cross(bundle, REPO / ".cache/testdata" / clip, EvalOptions(), recording)
            motion = float(np.linalg.norm(np.diff(np.array(lower), axis=0), axis=2).mean())
            cross[f"{clip} / {p}"] = {"correlation": r["blendshape_correlation"], "motion_cm": motion,
                                      "pucker": r["blendshape_correlation_each"]["mouthPucker"],
                                      "jawOpen": r["blendshape_correlation_each"]["jawOpen"]}
            print(clip, p, cross[f"{clip} / {p}"], flush=True)

    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1)}
    (HERE / "rig_exponent.json").write_text(json.dumps({"meta": meta, "cv": cv, "split": split, "cross": cross},
                                                       indent=1, default=str))
    head = " | ".join(f"p {p}" for p in EXPONENTS)
    md = ["# Experiment: the lower-face rig on score changes raised to a power (not shipped)", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; load "
          f"average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the end; "
          f"MediaPipe {meta['versions']['mediapipe']}. Made by `benchmarks/latent/rig_exponent.py` "
          f"({meta['seconds']:.0f} s). φ(x) = x^p above rest, x below; p = 1 is the shipped rig.", "",
          "## 1. Held-out frames of each training set (mean lower-face point error, cm; 5 folds)", "",
          f"| training set | folds | {head} |", "|---|---|" + "---|" * len(EXPONENTS)]
    for name, kinds in cv.items():
        for kind, errs in kinds.items():
            best = min(errs, key=errs.get)
            md.append(f"| {name} | {kind} | " + " | ".join(
                f"**{e:.4f}**" if p == best else f"{e:.4f}" for p, e in errs.items()) + " |")
    md += ["", "## 2. Extrapolation: Wolfgang's crying half → her laughing half", "",
           "Error of the second half's lower face placed from its scores, over the error of leaving "
           "it at the neutral (lower is better):", "", f"| {head} |", "|" + "---|" * len(EXPONENTS),
           "| " + " | ".join(f"{split[p]:.3f}" for p in EXPONENTS) + " |", "",
           "## 3. The embedded target driven by the sample clips (live default)", "",
           "| clip | p | mouth r | eyes r | brows r | mouthPucker r (render sd) | jawOpen r | lower-face motion per frame, cm |",
           "|---|---|---|---|---|---|---|---|"]
    for key, v in cross.items():
        clip, p = key.split(" / ")
        c = v["correlation"]
        pk, jw = v["pucker"], v["jawOpen"]
        fmt = lambda e: "–" if e["r"] is None else f"{e['r']:.2f}"  # noqa: E731
        md.append(f"| {clip} | {p} | {c['mouth']:.3f} | {c['eyes']:.3f} | {c['brows']:.3f} | "
                  f"{fmt(pk)} ({pk['render_sd']:.3f}) | {fmt(jw)} | {v['motion_cm']:.4f} |")
    md += ["", "How to read: with random folds a power below 1 predicts held-out frames of every training "
           "set better, and on the embedded target it lets small pucker and jaw asks show (the render's "
           "pucker sd rises) and brings the mouth's correlation up on both clips, at the cost of more "
           "lower-face motion per frame. But fitted on one kind of expression (her crying) it places "
           "another (her laughing) worse than the linear rig (section 2); contiguous folds, which hold "
           "out stretches of different expressions, prefer p = 1 on the Wolfgang clip and p < 1 on the "
           "others. Not shipped: p needs a criterion that carries to expressions the training frames "
           "do not show, and a check that the added motion is not visible jitter.", ""]
    (HERE / "rig_exponent.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
