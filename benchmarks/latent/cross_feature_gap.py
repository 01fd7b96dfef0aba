"""Where the default target's decoder loses against the photo warp: its input features.

    .venv/bin/python benchmarks/latent/cross_feature_gap.py \
        [--bundle LABEL=DIR ...]     # default: the embedded target

``cross_warp_bound.md`` warps the astronaut photo itself to each retargeted driver frame; through
the embedded target's encoder and decoder (``cross_default_compare.md``) the same frames followed
the driver less well before the blendshape rig (Wolfgang mouth r 0.655 → 0.561). The target was
trained on *re-tracked* features — MediaPipe's reading of each synthetic frame — while live it
is fed the retargeter's *intended* geometry and blendshapes. This script measures how much of
the loss that mismatch explains, per bundle (``--bundle LABEL=DIR``; with and without a rig):
each driver frame is retargeted as ``live`` does, the photo warped there and tracked again, and
the encoder is fed, per row:

* **live features** — the retargeter's points and blendshapes (what ``live`` does);
* **points re-tracked** — MediaPipe's points of the warped photo, the retargeter's blendshapes;
* **blendshapes re-tracked** — the retargeter's points, MediaPipe's blendshapes of the warp;
* **both re-tracked** — both from the warp: features like the ones the target was trained on.

Re-tracking the warp is a diagnosis, not a live option (a second MediaPipe pass per frame and
the photo at hand). The same per-region correlation as ``cross_default_compare.md`` (issue #11
asks ≥ 0.8). Writes ``cross_feature_gap.json`` / ``.md`` here; no pictures of the third-party clips.
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
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
REGIONS = ("mouth", "eyes", "brows")
ROWS = {"live features": (False, False), "points re-tracked": (True, False),
        "blendshapes re-tracked": (False, True), "both re-tracked": (True, True)}
WARP_SIZE = 512   # the warped photo is tracked at this size (MediaPipe sees a face ~300 px wide)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO / ".cache/testdata")
    ap.add_argument("--bundle", action="append", metavar="LABEL=DIR",
                    help="a bundle to measure (repeatable; default: the embedded target)")
    ap.add_argument("--report", default="cross_feature_gap")
    a = ap.parse_args()
    bundles = [(label, Path(folder)) for label, folder in
               (spec.partition("=")[::2] for spec in (a.bundle or [f"embedded={REPO / 'latentcam/assets/default_target'}"]))]

    from cross_warp_bound import astronaut, photo_crop

    from latentcam.eval_command import calibrated_driver
    from latentcam.facekit.geometry import canonicalize
    from latentcam.facekit.tracker import FaceTracker
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    photo = astronaut(a.clips)

    def warped(points: np.ndarray) -> np.ndarray:
        return photo_crop(photo, points, WARP_SIZE)

    def driver_with(bundle: Path, tracker: FaceTracker, points_from_warp: bool, blendshapes_from_warp: bool):
        live = calibrated_driver(bundle, None)
        count = {"frames": 0, "warp_not_tracked": 0}

        def driver(face):
            points, blendshapes, pose = live(face)
            if not (points_from_warp or blendshapes_from_warp):
                return points, blendshapes, pose
            count["frames"] += 1
            seen = tracker.track(warped(points), count["frames"], count["frames"] / 30.0).face
            if seen is None:                      # keep the live features for that frame
                count["warp_not_tracked"] += 1
                return points, blendshapes, pose
            if points_from_warp:
                points = canonicalize(seen.landmarks_px).points.astype(np.float32)
            if blendshapes_from_warp:
                blendshapes = seen.blendshapes
            return points, blendshapes, pose

        return driver, count

    rows, results = [], {}
    for clip in CLIPS:
        for label, bundle in bundles:
            for name, (pts, bs) in ROWS.items():
                with FaceTracker() as tracker:
                    driver, count = driver_with(bundle, tracker, pts, bs)
                    r = evaluate_cross(bundle, a.clips / clip, EvalOptions(), driver)
                corr = r["blendshape_correlation"]
                results[f"{clip} / {label} / {name}"] = {**r, "warp_not_tracked": count["warp_not_tracked"]}
                rows.append(f"| {clip} | {label} | {name} | " + " | ".join(f"{corr[g]:.3f}" for g in REGIONS)
                            + f" | {count['warp_not_tracked']} |")
                print(rows[-1], flush=True)
    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1),
            "bundles": {label: str(b.resolve().relative_to(REPO) if b.resolve().is_relative_to(REPO) else b)
                        for label, b in bundles}}
    (HERE / f"{a.report}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    per_bs = _each_blendshape(results)
    md = ["# Default target: how much of the decoder's loss is its input features", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; "
          f"load average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the "
          f"end; Python {meta['versions']['python']}, MediaPipe {meta['versions']['mediapipe']}, "
          f"ONNX Runtime {meta['versions']['onnxruntime']}. Bundles: "
          + "; ".join(f"**{label}** `{path}`" for label, path in meta["bundles"].items()) + ". Made by "
          f"`benchmarks/latent/cross_feature_gap.py` (all rows in one run, {meta['seconds']:.0f} s).", "",
          "Each driver frame retargeted as `live` does (self-calibrating); the encoder is fed the "
          "retargeter's features, or the features MediaPipe reads from the astronaut photo *warped* to "
          "the retargeted geometry (what the target was trained on: re-tracked synthetic frames). "
          "Per-region correlation between the driver's blendshapes and the render's re-tracked ones, "
          "as in `cross_default_compare.md`; *warp not tracked*: frames where the warp lost the face "
          "and the live features were kept.", "",
          "| clip | bundle | encoder input | mouth r | eyes r | brows r | warp not tracked |",
          "|---|---|---|---|---|---|---|", *rows, "", *per_bs, "",
          "How to read: where a re-tracked row is above *live features*, the decoder can render that "
          "expression but the retargeter's features do not ask for it the way the training data did. "
          "Compare `cross_warp_bound.md` (the warp itself, no decoder). A bundle with a blendshape rig "
          "(`facekit.rig`) places the lower face from the retargeted blendshapes; one without moves "
          "it by the driver's landmark deltas.", ""]
    (HERE / f"{a.report}.md").write_text("\n".join(md))


def _each_blendshape(results: dict) -> list[str]:
    """Markdown: mouth blendshapes' r per row (the region that loses most)."""
    keys = list(results)
    names = [n for n in results[keys[0]]["blendshape_correlation_each"] if n.startswith(("jaw", "mouth"))]
    out = ["Mouth blendshapes' r per row (– where the driver's sd is under 0.02):", "",
           "| clip / bundle / encoder input | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in keys:
        each = results[k]["blendshape_correlation_each"]
        out.append(f"| {k} | " + " | ".join("–" if each[n]["r"] is None else f"{each[n]['r']:.2f}"
                                            for n in names) + " |")
    return out


if __name__ == "__main__":
    main()
