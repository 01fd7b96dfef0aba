"""The embedded default target (astronaut) driven by another person: cross-identity report.

    .venv/bin/python benchmarks/latent/cross_default.py [--clip .cache/testdata/single_face.mp4]

Runs ``latent.evaluate.evaluate_cross`` on the same clip — the driver's raw geometry, through
calibration's retargeting with self-calibration (``latentcam eval --self-calibrate``), and the
same with the provisional neutral of before issue #11 (the first face seen, kept until
self-calibration succeeds; today the most neutral face so far) — and writes
``cross_default.json`` / ``cross_default.md`` here (``--report NAME`` for other names). The side-by-side PNGs show the
third-party clip, so they go to the work directory, not the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentcam.realtime.bench import machine_line

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

    from latentcam.calibration import RetargetOptions

    first_face = RetargetOptions(provisional_margin=1e9)   # nothing replaces the first face
    runs = {"raw driver": raw_driver, "self-calibrated retargeting": calibrated_driver(a.target, None),
            "self-calibrated retargeting, first face as provisional neutral (before #11)":
                calibrated_driver(a.target, None, options=first_face)}
    from latentcam.latent.bundle import TargetBundle

    bundle = TargetBundle.load(a.target)
    manifest = bundle.manifest
    training = manifest["provenance"].get("training", {})
    results, md = {}, [f"# Target {manifest['name']} driven by {a.clip.name} (cross-identity)", "",
                       f"Target bundle: `{a.target.name}`, decoder {bundle.decoder_kind}, "
                       f"{training.get('steps', '?')} training steps.", ""]
    import os
    import time

    load_start = os.getloadavg()
    for label, driver in runs.items():
        slug = label.split(",")[0].split()[0].replace("-", "_") + ("_first_face" if "first face" in label else "")
        r = evaluate_cross(a.target, a.clip, EvalOptions(out_dir=a.work / slug), driver)
        results[label] = r
        md += [f"## {label}", "", report_markdown(r).split("\n", 2)[2]]
    load_end = os.getloadavg()
    md[4:4] = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine_line()}; "
               f"load average {load_start[0]:.2f} at the start, "
               f"{load_end[0]:.2f} at the end.", ""]
    results["_run"] = {"date": time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                       "load_average_start": [round(x, 2) for x in load_start],
                       "load_average_end": [round(x, 2) for x in load_end]}
    (HERE / f"{a.report}.json").write_text(json.dumps(results, indent=1))
    (HERE / f"{a.report}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
