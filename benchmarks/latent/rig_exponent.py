"""The lower-face rig's score response: score rises raised to a power below 1 (``facekit.rig``).

    .venv/bin/python benchmarks/latent/rig_exponent.py

MediaPipe's mouth scores respond to the face's shape with a dead zone: a pucker reads near 0
until the lips have narrowed a fair way (``pucker_synthesis.md``), and a small jawOpen stands for
more jaw drop than a straight line through the large ones says. ``facekit.rig`` is linear in
``score_response`` (rises above rest raised to the rig's exponent, falls below rest as they
are); the export chooses the exponent per target (``latent.export.rig_exponent``: by contiguous
cross-validation for a synthetic one-photo training set, 1 for a recorded one). This script
compares the candidates in one run:

1. how well each exponent p predicts frames the rig was not fitted on, on four training sets
   (the embedded target's one-photo data, the earlier one-photo data, and the two sample clips'
   ``fidelity.py`` datasets): 5-fold cross-validation with random folds and with contiguous
   stretches of frames (``latent.export.rig_exponent_errors``), and the export's choice;
2. extrapolation to unseen expressions: fitted on the Wolfgang clip's first half (she cries),
   placing the second half (she laughs) from its scores alone (error over the neutral's) — why
   a recorded target keeps p = 1;
3. the embedded target driven by the sample clips (live default), its rig refitted with each p:
   the per-region correlation of ``cross_default_compare.md``, the retargeted lower face's mean
   motion per frame, and the re-tracked render's lower-face wobble against the driver's
   (``latent.evaluate.lower_face_jerk``; above 1 would be added jitter).

Writes ``rig_exponent.json`` / ``.md`` here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPONENTS = (0.4, 0.5, 0.6, 0.75, 1.0)
DATASETS = {"embedded target (one photo, v4)": ".cache/default_target/data4",
            "one photo, v3 synthesis": ".cache/default_target/data3",
            "Wolfgang clip": ".cache/bench/fidelity/data_WolfgangLanger_Pexels",
            "single_face clip": ".cache/bench/fidelity/data_single_face"}
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


def main() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from support.tracking import tracked_frames, training_observations

    from latentcam.eval_command import calibrated_driver
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross
    from latentcam.latent.export import (fit_blendshape_rig, rig_exponent, rig_exponent_errors,
                                         rig_regression_data, target_neutral_rows)
    from latentcam.latent.training_data import load_training_data
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    cv = {}
    for name, folder in DATASETS.items():
        if not (REPO / folder / "manifest.json").is_file():
            print(f"skipping {name}: {folder} not built", flush=True)
            continue
        data = load_training_data(REPO / folder)
        x, y, _, _ = rig_regression_data(data)
        cv[name] = {kind: rig_exponent_errors(x, y, exponents=EXPONENTS, random_folds=kind == "random")
                    for kind in ("random", "contiguous")}
        cv[name]["chosen"] = rig_exponent(data, x, y)
        print(name, cv[name], flush=True)

    faces = [f for _, _, f in tracked_frames(REPO / ".cache/testdata/WolfgangLanger_Pexels.mp4") if f is not None]
    half = len(faces) // 2

    first, second = training_observations(faces[:half]), training_observations(faces[half:])
    calm = target_neutral_rows(first)
    rest = first.blendshapes[calm].mean(axis=0)
    split = {}
    for p in EXPONENTS:
        rig = fit_blendshape_rig(first, exponent=p)[0]
        neutral = first.canonical[calm].mean(axis=0)[rig.points]
        truth = second.canonical[:, rig.points]
        placed = np.stack([neutral + rig.offsets(b - rest) for b in second.blendshapes])
        split[p] = float(np.linalg.norm(truth - placed, axis=2).mean()
                         / np.linalg.norm(truth - neutral, axis=2).mean())

    bundle = REPO / "latentcam/assets/default_target"
    data = load_training_data(REPO / DATASETS["embedded target (one photo, v4)"])
    cross = {}
    for p in EXPONENTS:
        rig = fit_blendshape_rig(data, exponent=p)[0]
        for clip in CLIPS:
            driver = calibrated_driver(bundle, None)
            driver.retargeter.target = replace(driver.retargeter.target, blendshape_rig=rig)
            lower = []

            def recording(face, live=driver, points=rig.points):
                out = live(face)
                lower.append(np.asarray(out[0])[points].copy())
                return out
            r = evaluate_cross(bundle, REPO / ".cache/testdata" / clip, EvalOptions(), recording)
            motion = float(np.linalg.norm(np.diff(np.array(lower), axis=0), axis=2).mean())
            cross[f"{clip} / {p}"] = {"correlation": r["blendshape_correlation"], "motion_cm": motion,
                                      "pucker": r["blendshape_correlation_each"]["mouthPucker"],
                                      "jawOpen": r["blendshape_correlation_each"]["jawOpen"],
                                      "jerk": r["lower_face_jerk"]}
            print(clip, p, cross[f"{clip} / {p}"], flush=True)

    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1)}
    (HERE / "rig_exponent.json").write_text(json.dumps({"meta": meta, "cv": cv, "split": split, "cross": cross},
                                                       indent=1, default=str))
    head = " | ".join(f"p {p}" for p in EXPONENTS)
    md = ["# The lower-face rig's score response: rises raised to a power p", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; load "
          f"average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the end; "
          f"MediaPipe {meta['versions']['mediapipe']}. Made by `benchmarks/latent/rig_exponent.py` "
          f"({meta['seconds']:.0f} s). `facekit.rig.score_response`: x^p above rest, x below; p = 1 is "
          "the linear rig. The export chooses p per target (`latent.export.rig_exponent`).", "",
          "## 1. Held-out frames of each training set (mean lower-face point error, cm; 5 folds)", "",
          f"| training set | folds | {head} |", "|---|---|" + "---|" * len(EXPONENTS)]
    for name, kinds in cv.items():
        for kind in ("random", "contiguous"):
            errs = kinds[kind]
            best = min(errs, key=errs.get)
            md.append(f"| {name} | {kind} | " + " | ".join(
                f"**{e:.4f}**" if p == best else f"{e:.4f}" for p, e in errs.items()) + " |")
    md += ["", "The export's choice for each (`latent.export.rig_exponent`):", "",
           "| training set | p | chosen by |", "|---|---|---|"]
    md += [f"| {name} | {k['chosen']['exponent']} | {k['chosen']['chosen_by']} |" for name, k in cv.items()]
    md += ["", "## 2. Extrapolation: Wolfgang's crying half → her laughing half", "",
           "Error of the second half's lower face placed from its scores, over the error of leaving "
           "it at the neutral (lower is better):", "", f"| {head} |", "|" + "---|" * len(EXPONENTS),
           "| " + " | ".join(f"{split[p]:.3f}" for p in EXPONENTS) + " |", "",
           "## 3. The embedded target driven by the sample clips (live default)", "",
           "| clip | p | mouth r | eyes r | brows r | mouthPucker r (render sd) | jawOpen r | "
           "lower-face motion per frame, cm | lower-face wobble, render / driver |",
           "|---|---|---|---|---|---|---|---|---|"]
    for key, v in cross.items():
        clip, p = key.split(" / ")
        c = v["correlation"]
        pk, jw = v["pucker"], v["jawOpen"]
        fmt = lambda e: "–" if e["r"] is None else f"{e['r']:.2f}"  # noqa: E731
        md.append(f"| {clip} | {p} | {c['mouth']:.3f} | {c['eyes']:.3f} | {c['brows']:.3f} | "
                  f"{fmt(pk)} ({pk['render_sd']:.3f}) | {fmt(jw)} | {v['motion_cm']:.4f} | "
                  f"{v['jerk']['ratio']:.2f} |")
    shipped = cv.get("embedded target (one photo, v4)", {}).get("chosen", {}).get("exponent")
    wobble = "; ".join(f"{clip} {cross[f'{clip} / {shipped}']['jerk']['ratio']:.2f} at p {shipped} vs "
                       f"{cross[f'{clip} / 1.0']['jerk']['ratio']:.2f} linear" for clip in CLIPS
                       if f"{clip} / {shipped}" in cross)
    md += ["", "How to read: on the one-photo training sets a power below 1 predicts held-out frames "
           "better with either kind of fold, and driven by the sample clips it lets small pucker and "
           "jaw asks show (the render's pucker sd rises) and raises the mouth's correlation. The "
           f"render's lower-face wobble against the driver's (last column): {wobble}. On a recording, contiguous folds — stretches of different expressions — prefer "
           "p = 1 for the whole Wolfgang clip, but fitted on one kind of expression (her crying half) "
           "a power places another (her laughing half) worse than the linear rig (section 2), and "
           "cross-validation within that half could not have told: a recording can lack whole "
           "expressions. Hence the export's rule: p chosen by contiguous folds for a synthetic "
           "training set (whose recipes span every principal mouth movement), p = 1 for a recorded "
           "one.", ""]
    (HERE / "rig_exponent.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
