#!/usr/bin/env python3
"""Cross-identity report: a target bundle driven by another person, with and without calibration.

Runs ``latent.evaluate.evaluate_cross`` (the code behind ``latentcam eval --mode cross``) three
times on the same clip, changing only the driver → (points, blendshapes, pose) mapping:

* ``raw``: the driver's own landmarks (no calibration: the driver's face shape reaches the
  encoder);
* ``self-calibrated``: ``Retargeter`` without a profile (neutral from the first still, frontal
  second of the clip, as ``latentcam live`` does without --profile);
* ``profile``: ``Retargeter`` with the profile ``latentcam calibrate --source CLIP`` makes.

Reported per condition: per-region Pearson correlation between the driver's blendshapes and
the re-tracked render's, and identity leak (render neutral vs target neutral, relative to the
driver's own distance: 0 = target shape kept, 1 = driver's shape copied).

Usage: python benchmarks/calibration/cross_identity.py BUNDLE_DIR [--clip CLIP] [--max-frames N]
Writes cross_identity.json and cross_identity.md next to this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

from latentcam.calibration import NeutralCaptureOptions, Retargeter, RetargetOptions, TargetGeometry
from latentcam.calibration.session import CalibrationOptions, run_calibration
from latentcam.facekit.sources import open_source
from latentcam.latent.bundle import TargetBundle
from latentcam.latent.evaluate import EvalOptions, evaluate_cross, raw_driver

HERE = Path(__file__).resolve().parent
CLIP = HERE.parent.parent / ".cache" / "testdata" / "single_face.mp4"


def retargeted(retargeter: Retargeter):
    """A DriverFn for evaluate_cross that runs every tracked frame through ``retargeter``."""
    def driver(face):
        out = retargeter.process(face)
        if out is None:   # a degenerate track: fall back to the raw face for this frame
            return raw_driver(face)
        return out.points, out.blendshapes, out.pose
    return driver


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--neutral-seconds", type=float, default=0.5,
                    help="neutral window (single_face.mp4 holds a neutral face for ~0.57 s)")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()

    bundle = TargetBundle.load(args.bundle)
    target = TargetGeometry.from_manifest(bundle.manifest)
    neutral = NeutralCaptureOptions(seconds=args.neutral_seconds)
    with open_source(args.clip) as src:
        profile = run_calibration(src, CalibrationOptions(neutral=neutral), source_name=args.clip.name).profile
    options = EvalOptions(max_frames=args.max_frames, baselines=False)
    conditions = {
        "raw (no calibration)": raw_driver,
        "self-calibrated": retargeted(Retargeter(None, target, RetargetOptions(self_calibration=neutral))),
        "profile": retargeted(Retargeter(profile, target)),
    }
    reports = {name: evaluate_cross(args.bundle, args.clip, options, driver=fn) for name, fn in conditions.items()}
    result = {"date": dt.date.today().isoformat(), "bundle": bundle.name, "clip": args.clip.name,
              "machine": f"{platform.machine()}, {platform.system()} (shared, loaded)",
              "target_pose_range": bundle.manifest.get("pose_range"), "conditions": reports}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cross_identity.json").write_text(json.dumps(result, indent=1) + "\n")
    regions = list(next(iter(reports.values())).get("blendshape_correlation", {}))
    lines = [f"# Cross-identity: target {bundle.name!r} driven by {args.clip.name} ({result['date']})", "",
             "Render re-tracked with MediaPipe; correlation = Pearson r between the driver's and the "
             "render's blendshapes per region; leak ratio 0 = target's face shape kept, 1 = driver's copied.", "",
             "| condition | frames | render tracked | " + "".join(f"r {r} | " for r in regions)
             + "identity leak ratio | render→target neutral cm |",
             "|---|---|---|" + "---|" * len(regions) + "---|---|"]
    for name, rep in reports.items():
        corr = rep.get("blendshape_correlation", {})
        idn = rep.get("identity", {})
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {name} | {rep['frames_evaluated']} | {rep['render_tracked_fraction']:.0%} | "
                     + "".join(f"{fmt(corr.get(r))} | " for r in regions)
                     + f"{fmt(idn.get('leak_ratio'))} | {fmt(idn.get('render_neutral_to_target_cm'))} |")
    (args.out / "cross_identity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
