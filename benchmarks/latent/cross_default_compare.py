"""Default targets side by side, driven by other people: the cross-identity table of issue #11.

    .venv/bin/python benchmarks/latent/cross_default_compare.py \
        --bundle before=.cache/default_target/before --bundle after=latentcam/assets/default_target

For every sample clip (``single_face.mp4``, ``WolfgangLanger_Pexels.mp4``) and every bundle, in one
run: ``latent.evaluate.evaluate_cross`` with the live default (retargeting that self-calibrates,
the most neutral face so far as provisional neutral), with a calibration profile made of the
clip's own five calmest frames (what ``latentcam calibrate`` would give a driver who can hold a
neutral face) and with the driver's raw geometry. Reports
the per-region correlation between the driver's blendshapes and the render's re-tracked ones
(target ≥ 0.8 for mouth, eyes and brows), their MAE and the identity leak. Writes
``cross_default_compare.json`` / ``.md`` here; the side-by-side PNGs show the third-party clips,
so they go to ``--work``, never the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
REGIONS = ("mouth", "eyes", "brows")


def each_blendshape(results: dict, label: str) -> list[str]:
    """Markdown: per blendshape, the driver's and the render's sd and r for ``label``'s
    live-default rows."""
    keys = [k for k in results if k.endswith(f" / {label} / self-calibrated (live default)")]
    out = [f"Per blendshape, bundle **{label}** with the live default (a region's r is the mean of "
           "its blendshapes' r; a blendshape counts where the driver's sd exceeds 0.02; where the "
           "render's sd is a small fraction of the driver's, the render holds still and its r says "
           "little):", "",
           "| blendshape | " + " | ".join(f"{k.split(' / ')[0]}: driver sd, render sd, r" for k in keys) + " |",
           "|---|" + "---|" * len(keys)]
    names = list(results[keys[0]]["blendshape_correlation_each"]) if keys else []
    for name in names:
        cells = []
        for k in keys:
            e = results[k]["blendshape_correlation_each"][name]
            render_sd = "–" if e.get("render_sd") is None else f"{e['render_sd']:.3f}"
            cells.append(f"{e['driver_sd']:.3f}, {render_sd}, " + ("–" if e["r"] is None else f"{e['r']:.3f}"))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, metavar="LABEL=DIR")
    ap.add_argument("--clips", type=Path, default=REPO / ".cache/testdata")
    ap.add_argument("--work", type=Path, default=REPO / ".cache/bench/latent/cross_default_compare")
    ap.add_argument("--report", default="cross_default_compare")
    a = ap.parse_args()

    from cross_warp_bound import calm_profile, track

    from latentcam.eval_command import calibrated_driver
    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross, raw_driver

    def clip_profile(clip: Path) -> Path:
        a.work.mkdir(parents=True, exist_ok=True)
        return calm_profile(track(clip), clip.name).save(a.work / f"{clip.stem}_profile.json")

    bundles = [spec.partition("=")[::2] for spec in a.bundle]
    load_start = os.getloadavg()
    rows, results = [], {}
    for clip in CLIPS:
        profile = clip_profile(a.clips / clip)
        for label, folder in bundles:
            kind = TargetBundle.load(Path(folder)).decoder_kind
            for driver_name, driver in (("self-calibrated (live default)", calibrated_driver(Path(folder), None)),
                                        ("clip's own neutral (profile)", calibrated_driver(Path(folder), profile)),
                                        ("raw driver", raw_driver)):
                r = evaluate_cross(Path(folder), a.clips / clip,
                                   EvalOptions(out_dir=a.work / clip.split(".")[0] / label / driver_name.split()[0]),
                                   driver)
                results[f"{clip} / {label} / {driver_name}"] = r
                corr, mae = r["blendshape_correlation"], r["blendshape_mae"]
                rows.append(f"| {clip} | {label} ({kind}) | {driver_name} | "
                            + " | ".join(f"{corr[g]:.3f}" for g in REGIONS) + " | "
                            + " / ".join(f"{mae[g]:.3f}" for g in REGIONS)
                            + f" | {r['identity']['leak_ratio']:.2f} |")
    load_end = os.getloadavg()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = ["# Default target driven by other people: before / after (cross-identity)", "",
          f"{date}; {machine_line()}; load average {load_start[0]:.2f} at the "
          f"start, {load_end[0]:.2f} at the end. Made by `benchmarks/latent/cross_default_compare.py` "
          "(all rows in one run).", "",
          "Bundles: " + "; ".join(f"**{label}** `{folder}`" for label, folder in bundles) + ".", "",
          "Correlation between the driver's blendshapes and the render's re-tracked ones per region "
          "(issue #11 asks ≥ 0.8 for each), their MAE, and the identity leak (0 = the target's face "
          "shape kept, 1 = the driver's).", "",
          "| clip | bundle | driver | mouth r | eyes r | brows r | MAE mouth / eyes / brows | leak |",
          "|---|---|---|---|---|---|---|---|", *rows, "",
          *each_blendshape(results, bundles[-1][0])]
    results["_run"] = {"date": date, "load_average_start": list(load_start), "load_average_end": list(load_end),
                       "bundles": dict(bundles)}
    (HERE / f"{a.report}.json").write_text(json.dumps(results, indent=1, default=str))
    (HERE / f"{a.report}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
