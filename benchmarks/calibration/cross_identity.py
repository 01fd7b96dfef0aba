#!/usr/bin/env python3
"""Cross-identity report: a target bundle driven by another person, with and without calibration.

Runs the real commands, one ``latentcam eval --mode cross`` per condition on the same clip:

* ``raw``: no calibration (the driver's own landmarks reach the encoder);
* ``self-calibrated``: ``--self-calibrate`` (Retargeter without a profile, as ``latentcam live``
  without ``--profile``);
* ``profile``: ``--profile`` made by ``latentcam calibrate --source CLIP`` on the same clip.

Per condition: per-region Pearson correlation between the driver's blendshapes and the
re-tracked render's, and identity leak (render neutral vs target neutral relative to the
driver's own distance: 0 = target shape kept, 1 = driver's shape copied).

Usage: python benchmarks/calibration/cross_identity.py [--bundle DIR] [--clip CLIP]
Writes cross_identity/<condition>/report.{json,md} and cross_identity.{json,md} here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIP = REPO / ".cache" / "testdata" / "single_face.mp4"
BUNDLE = REPO / "latentcam" / "assets" / "default_target"
LATENTCAM = [sys.executable, "-m", "latentcam"]


def run(args: list[str]) -> None:
    print("$ latentcam " + " ".join(args), flush=True)
    proc = subprocess.run(LATENTCAM + args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"latentcam {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--neutral-seconds", default="0.5",
                    help="calibrate --seconds (single_face.mp4 holds a neutral face ~0.57 s)")
    ap.add_argument("--out", type=Path, default=HERE / "cross_identity")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    profile = args.out / "profile.json"
    run(["calibrate", "--source", str(args.clip), "--out", str(profile), "--seconds", args.neutral_seconds,
         "--force"])
    conditions = {"raw (no calibration)": ("raw", []),
                  "self-calibrated": ("self_calibrated", ["--self-calibrate"]),
                  "profile": ("profile", ["--profile", str(profile)])}
    reports = {}
    for name, (folder, extra) in conditions.items():
        out = args.out / folder
        run(["eval", str(args.bundle), "--video", str(args.clip), "--mode", "cross", "--out", str(out), *extra])
        reports[name] = json.loads((out / "report.json").read_text())
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    result = {"date": dt.date.today().isoformat(), "bundle": manifest.get("name"), "clip": args.clip.name,
              "machine": f"{machine_line()} (shared, loaded)", "conditions": reports}
    (HERE / "cross_identity.json").write_text(json.dumps(result, indent=1) + "\n")
    regions = list(next(iter(reports.values())).get("blendshape_correlation", {}))
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"# Cross-identity: target {result['bundle']!r} driven by {args.clip.name} ({result['date']})", "",
             "Each row is one `latentcam eval --mode cross` run (reports in `cross_identity/`). The render is "
             "re-tracked with MediaPipe; r = Pearson correlation between the driver's and the render's "
             "blendshapes per region; leak ratio: 0 = target's face shape kept, 1 = driver's copied.", "",
             "| condition | frames | render tracked | " + "".join(f"r {r} | " for r in regions)
             + "identity leak ratio | render→target neutral cm (RMS) |",
             "|---|---|---|" + "---|" * len(regions) + "---|---|"]
    for name, rep in reports.items():
        corr, idn = rep.get("blendshape_correlation", {}), rep.get("identity", {})
        lines.append(f"| {name} | {rep['frames_evaluated']} | {rep['render_tracked_fraction']:.0%} | "
                     + "".join(f"{fmt(corr.get(r))} | " for r in regions)
                     + f"{fmt(idn.get('leak_ratio'))} | {fmt(idn.get('render_neutral_to_target_cm'))} |")
    (HERE / "cross_identity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
