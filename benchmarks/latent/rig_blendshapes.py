"""Which blendshapes the lower-face rig should be fitted on: all 52 or the principal mouth scores.

    .venv/bin/python benchmarks/latent/rig_blendshapes.py \
        [--bundle LABEL=DIR ...]     # default: the embedded target

``facekit.rig`` places the target's lower face from the retargeted blendshapes with a ridge
regression fitted on the target's own frames. Fitted on all 52 scores, the regression explains
each lip shape by every reading that comes with it on *this* face: the astronaut's puckered
frames also read as dimpled and less pressed (her photo rests at mouthPress 0.21), so the
pucker row kept only part of the pucker and a driver's pucker — which comes without those
readings — barely narrowed her mouth. Fitted on the principal mouth scores alone
(``facekit.rig.RIG_BLENDSHAPES``), each row carries what usually comes with that movement on
the target. For each bundle (its rig refitted both ways on its training set, named in its
manifest) and sample clip, in one run: ``latent.evaluate.evaluate_cross`` with the live default
(self-calibrating retargeting) and each rig swapped in, plus landmark deltas (no rig). Also the
mouth width the rig gives for mouthPucker 0.25 / 0.5 above rest, against the neutral's. Both
rigs are linear in the scores (exponent 1, as the export fitted them when this was measured;
the score response the export now chooses per target is compared in ``rig_exponent.md``).
Writes ``rig_blendshapes.json`` / ``.md`` here; no pictures of the third-party clips.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
REGIONS = ("mouth", "eyes", "brows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO / ".cache/testdata")
    ap.add_argument("--bundle", action="append", metavar="LABEL=DIR",
                    help="a bundle (repeatable; default: the embedded target)")
    a = ap.parse_args()
    bundles = [(label, Path(folder)) for label, folder in
               (spec.partition("=")[::2] for spec in (a.bundle or [f"embedded={REPO / 'latentcam/assets/default_target'}"]))]

    from latentcam.calibration import RetargetOptions
    from latentcam.eval_command import calibrated_driver
    from latentcam.facekit.blendshapes import BLENDSHAPE_NAMES, INDEX
    from latentcam.facekit.landmarks import LIPS_OUTER
    from latentcam.facekit.rig import RIG_BLENDSHAPES
    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross
    from latentcam.latent.export import fit_blendshape_rig
    from latentcam.latent.training_data import load_training_data
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    fits = {"all 52 scores": tuple(BLENDSHAPE_NAMES), "principal mouth scores": RIG_BLENDSHAPES}
    rows, widths, results = [], [], {}
    for label, folder in bundles:
        bundle = TargetBundle.load(folder)
        data = load_training_data(Path(bundle.manifest["provenance"]["training"]["options"]["data_dir"]))
        neutral = bundle.neutral_canonical
        rigs = {}
        for name, scores in fits.items():
            rig, frames, _ = fit_blendshape_rig(data, scores=scores, exponent=1.0)
            rigs[name] = rig
            width = []
            for pucker in (0.25, 0.5):
                q = neutral.copy()
                q[rig.points] += pucker * rig.displacement[INDEX["mouthPucker"]]
                width.append(float(np.ptp(q[list(LIPS_OUTER), 0]) / np.ptp(neutral[list(LIPS_OUTER), 0])))
            widths.append(f"| {label} | {name} | {frames} | {width[0]:.3f} | {width[1]:.3f} |")
        for clip in CLIPS:
            for name in (*fits, "no rig (landmark deltas)"):
                driver = calibrated_driver(folder, None, options=RetargetOptions(lower_face_rig=0.0 if name not in rigs else 1.0))
                if name in rigs:
                    driver.retargeter.target = replace(driver.retargeter.target, blendshape_rig=rigs[name])
                r = evaluate_cross(folder, a.clips / clip, EvalOptions(), driver)
                results[f"{clip} / {label} / {name}"] = r
                corr, mae, each = r["blendshape_correlation"], r["blendshape_mae"], r["blendshape_correlation_each"]
                mouth = " ".join(f"{n.removeprefix('mouth')} {each[n]['r']:.2f}" for n in each
                                 if n.startswith(("jaw", "mouth")) and each[n]["r"] is not None)
                rows.append(f"| {clip} | {label} | {name} | " + " | ".join(f"{corr[g]:.3f}" for g in REGIONS)
                            + f" | {mae['mouth']:.3f} | {r['identity']['leak_ratio']:.2f} | {mouth} |")
                print(rows[-1], flush=True)
    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1),
            "bundles": {label: str(b) for label, b in bundles}}
    (HERE / "rig_blendshapes.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    md = ["# The lower-face rig: fitted on all 52 scores or on the principal mouth scores", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; "
          f"load average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the "
          f"end; MediaPipe {meta['versions']['mediapipe']}, ONNX Runtime {meta['versions']['onnxruntime']}. "
          "Bundles: " + "; ".join(f"**{label}** `{path}`" for label, path in meta["bundles"].items())
          + f". Made by `benchmarks/latent/rig_blendshapes.py` (all rows in one run, {meta['seconds']:.0f} s).", "",
          "Principal mouth scores (`facekit.rig.RIG_BLENDSHAPES`): " + ", ".join(RIG_BLENDSHAPES) + ".", "",
          "Mouth width (outer lip corners) the rig gives for mouthPucker above rest, over the neutral's "
          "(the target's own puckered frames: see `pucker_synthesis.md`):", "",
          "| bundle | rig fitted on | frames | pucker +0.25 | pucker +0.5 |", "|---|---|---|---|---|", *widths, "",
          "Driven by the sample clips with the live default (self-calibrating); per-region correlation "
          "between the driver's blendshapes and the render's re-tracked ones (issue #11 asks ≥ 0.8), "
          "as in `cross_default_compare.md`; mouth MAE; identity leak; the mouth blendshapes' r "
          "(where the driver's sd exceeds 0.02):", "",
          "| clip | bundle | lower face | mouth r | eyes r | brows r | mouth MAE | leak | mouth blendshapes' r |",
          "|---|---|---|---|---|---|---|---|---|", *rows, ""]
    (HERE / "rig_blendshapes.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
