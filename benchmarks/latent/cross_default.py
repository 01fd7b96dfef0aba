"""The embedded default target (astronaut) driven by another person: cross-identity report.

    .venv/bin/python benchmarks/latent/cross_default.py [--clip .cache/testdata/single_face.mp4]

Runs ``latent.evaluate.evaluate_cross`` twice on the same clip — the driver's raw geometry, and
through calibration's retargeting with self-calibration (``latentcam eval --self-calibrate``) —
and writes ``cross_default.json`` / ``cross_default.md`` here. The side-by-side PNGs show the
third-party clip, so they go to the work directory, not the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", type=Path, default=REPO / ".cache/testdata/single_face.mp4")
    ap.add_argument("--target", type=Path, default=REPO / "latentcam/assets/default_target")
    ap.add_argument("--work", type=Path, default=REPO / ".cache/bench/latent/cross_default")
    ap.add_argument("--report", default="cross_default",
                    help="report name (cross_default = the embedded default target)")
    a = ap.parse_args()

    from latentcam.eval_command import calibrated_driver
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross, raw_driver, report_markdown

    runs = {"raw driver": raw_driver, "self-calibrated retargeting": calibrated_driver(a.target, None)}
    from latentcam.latent.bundle import TargetBundle

    manifest = TargetBundle.load(a.target).manifest
    training = manifest["provenance"].get("training", {})
    results, md = {}, [f"# Target {manifest['name']} driven by {a.clip.name} (cross-identity)", "",
                       f"Target bundle: `{a.target.name}`, decoder "
                       f"{'warping' if manifest['networks']['decoder'].get('warp') else 'plain'}, "
                       f"{training.get('steps', '?')} training steps.", ""]
    for label, driver in runs.items():
        slug = label.split()[0].replace("-", "_")
        r = evaluate_cross(a.target, a.clip, EvalOptions(out_dir=a.work / slug), driver)
        results[label] = r
        md += [f"## {label}", "", report_markdown(r).split("\n", 2)[2]]
    (HERE / f"{a.report}.json").write_text(json.dumps(results, indent=1))
    (HERE / f"{a.report}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
