"""The blendshape rig on targets trained from *video* (the embedded target is one photo).

    .venv/bin/python benchmarks/latent/rig_video_target.py

Takes the two video targets ``fidelity.py`` trains (the warping decoder on the earlier 80 % of
each sample clip, ``.cache/bench/fidelity/<clip>_s256_m*_seed0_old``; run ``fidelity.py`` first),
fits each one's rig on exactly the frames it was trained on (``latent.export.fit_blendshape_rig``,
what ``latentcam train`` now writes), puts it into a copy of the bundle (unsigned, under
``--work``) and drives each target with the *other* clip — another person — through the live
retargeting (self-calibrating), with the lower face from landmark deltas (``lower_face_rig`` 0,
as before the rig) and from the rig (1, the default). Per-region correlation between the
driver's blendshapes and the render's re-tracked ones, as in ``cross_default_compare.md``.
Writes ``rig_video_target.json`` / ``.md`` here; no pictures of the third-party clips.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REGIONS = ("mouth", "eyes", "brows")
# target (trained on this clip) → driver (the other clip)
PAIRS = (("WolfgangLanger_Pexels", "single_face.mp4"), ("single_face", "WolfgangLanger_Pexels.mp4"))


def rigged_copy(bundle: Path, work: Path) -> tuple[Path, int]:
    """A copy of ``bundle`` with the rig its export would write now (fitted on its training
    frames); returns the copy and the number of frames fitted."""
    from latentcam.latent.bundle import write_manifest
    from latentcam.latent.export import write_blendshape_rig
    from latentcam.latent.training_data import load_training_data, parse_frame_range

    manifest = json.loads((bundle / "manifest.json").read_text())
    options = manifest["provenance"]["training"]["options"]
    data = load_training_data(Path(options["data_dir"]))
    data = data.subset(parse_frame_range(options.get("frames"), len(data)))
    out = work / bundle.name
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(bundle, out, ignore=shutil.ignore_patterns("training", "manifest.sig", "manifest.signer.pem"))
    manifest["blendshape_rig"] = write_blendshape_rig(out, data)
    manifest["files"]["rig"] = {"name": manifest["blendshape_rig"]["file"]}
    write_manifest(out, manifest)
    return out, manifest["blendshape_rig"]["frames"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=REPO / ".cache/testdata")
    ap.add_argument("--bundles", type=Path, default=REPO / ".cache/bench/fidelity",
                    help="where fidelity.py wrote its bundles")
    ap.add_argument("--work", type=Path, default=REPO / ".cache/bench/latent/rig_video_target")
    a = ap.parse_args()

    from latentcam.calibration import RetargetOptions
    from latentcam.eval_command import calibrated_driver
    from latentcam.latent.evaluate import EvalOptions, evaluate_cross

    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows, results = [], {}
    for target_clip, driver_clip in PAIRS:
        # The longest-trained one: by the minutes in its name (m45 < m60 < m100), not by text.
        prefix = f"{target_clip}_s256_m"
        found = sorted(a.bundles.glob(f"{prefix}*_seed0_old"),
                       key=lambda b: float(b.name[len(prefix):].split("_", 1)[0]))
        if not found:
            raise SystemExit(f"no {target_clip} bundle under {a.bundles}: run benchmarks/latent/fidelity.py "
                             f"--clip {target_clip}.mp4 first")
        bundle, frames = rigged_copy(found[-1], a.work)
        for share in (0.0, 1.0):
            driver = calibrated_driver(bundle, None, options=RetargetOptions(lower_face_rig=share))
            r = evaluate_cross(bundle, a.clips / driver_clip, EvalOptions(), driver)
            corr, mae = r["blendshape_correlation"], r["blendshape_mae"]
            how = "blendshape rig" if share else "landmark deltas (before the rig)"
            results[f"{bundle.name} / {driver_clip} / {how}"] = {**r, "rig_frames": frames}
            rows.append(f"| {bundle.name} ({frames} training frames) | {driver_clip} | {how} | "
                        + " | ".join(f"{corr[g]:.3f}" for g in REGIONS) + " | "
                        + " / ".join(f"{mae[g]:.3f}" for g in REGIONS)
                        + f" | {r['identity']['leak_ratio']:.2f} |")
            print(rows[-1], flush=True)
    load_end = os.getloadavg()
    meta = {"date": started, "machine": machine_line(), "load_average_start": list(load_start),
            "load_average_end": list(load_end)}
    (HERE / "rig_video_target.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1,
                                                           default=str))
    md = ["# The blendshape rig on video targets, driven by another person", "",
          f"{started}; {meta['machine']}; load average {load_start[0]:.2f} at the start, "
          f"{load_end[0]:.2f} at the end. Made by `benchmarks/latent/rig_video_target.py` (all rows "
          "in one run).", "",
          "Targets: the warping decoders `fidelity.py` trained on the earlier 80 % of each clip (256²); "
          "each one's rig fitted on exactly those frames and added to a copy of the bundle. Driver: "
          "the other clip, self-calibrating as `live` does.", "",
          "| target | driver | lower face | mouth r | eyes r | brows r | MAE mouth / eyes / brows | leak |",
          "|---|---|---|---|---|---|---|---|", *rows, ""]
    (HERE / "rig_video_target.md").write_text("\n".join(md))


if __name__ == "__main__":
    main()
