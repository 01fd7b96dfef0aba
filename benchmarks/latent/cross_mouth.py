"""Where the cross-identity mouth correlation is lost: stage by stage, per blendshape.

    nice .venv/bin/python benchmarks/latent/cross_mouth.py

The embedded default target is driven by each sample clip through calibration's self-calibrating
retargeting, exactly as ``cross_default.py`` does, and the chain is split where it can be
observed:

* **retarget**: driver blendshapes vs the retargeted blendshapes fed to the encoder, and driver
  vs retargeted geometry (mouth opening and mouth width in canonical cm, ``calibration.measures``);
* **encode + decode**: retargeted blendshapes / geometry vs the render re-tracked by MediaPipe;
* **end to end**: driver vs re-tracked render (the number ``cross_default.md`` reports per region).

For the geometry the slope of a least-squares fit (render vs driver) is reported too: below 1
the render's mouth moves less than the driver's.

Both provisional-neutral rules run (the most neutral face so far, today's; the first face seen,
before issue #11) and the region correlations are also given over the frames after the last
change of the provisional neutral ("settled"): correlation is blind to a constant offset, so a
reference that is wrong but never changes scores better over a whole clip than one that
improves a few times. Writes ``cross_mouth.json`` / ``.md`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from latentcam.realtime.bench import machine_line

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


def _corr(a, b) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() < 1e-6 or b.std() < 1e-6:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _slope(x, y) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.std() < 1e-6:
        return None
    return round(float(np.polyfit(x, y, 1)[0]), 3)


def run(clip: Path, target: Path, first_face: bool = False, window_from: int | None = None) -> dict:
    from latentcam.calibration import Retargeter, RetargetOptions, TargetGeometry, measures
    from latentcam.facekit.blendshapes import INDEX, REGION_GROUPS
    from latentcam.facekit.geometry import canonicalize
    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.evaluate import (EvalOptions, _composite_bgr, drive, region_correlation,
                                           retrack)
    from latentcam.latent.renderer import BundleRenderer, RendererOptions

    bundle = TargetBundle.load(target)
    geometry_t = TargetGeometry.from_manifest(bundle.manifest)
    retargeter = Retargeter(None, geometry_t, RetargetOptions(provisional_margin=1e9) if first_face
                            else RetargetOptions())
    fed, switches, clock = [], [], {"t": 0.0, "n": 0, "last": None}

    def driver(face):   # as eval_command.calibrated_driver, recording what goes to the encoder
        clock["t"] += 1.0 / 30.0
        r = retargeter.process(face, clock["t"])
        p = retargeter.provisional_neutrality
        if p is not None and p != clock["last"]:
            switches.append(clock["n"])
            clock["last"] = p
        clock["n"] += 1
        out = (r.points, r.blendshapes, r.pose) if r is not None else (
            geometry_t.neutral_points, geometry_t.neutral_blendshapes, geometry_t.neutral_pose)
        fed.append(out)
        return out

    with BundleRenderer(bundle, RendererOptions(2)) as renderer:
        driven = drive(clip, renderer, driver, EvalOptions())
    track = retrack([_composite_bgr(r) for r in driven.renders])
    ok = [i for i, lm in enumerate(track.landmarks) if lm is not None]
    drv_bs = np.stack([driven.faces[i].blendshapes for i in ok])
    ret_bs = np.stack([fed[i][1] for i in ok])
    ren_bs = np.stack([track.blendshapes[i] for i in ok])
    rows = []
    for region, names in REGION_GROUPS.items():
        for name in names:
            j = INDEX[name]
            rows.append({"region": region, "blendshape": name,
                         "driver_std": round(float(drv_bs[:, j].std()), 3),
                         "counted": bool(drv_bs[:, j].std() > 0.02),
                         "driver_vs_retargeted": _corr(drv_bs[:, j], ret_bs[:, j]),
                         "retargeted_vs_render": _corr(ret_bs[:, j], ren_bs[:, j]),
                         "driver_vs_render": _corr(drv_bs[:, j], ren_bs[:, j]),
                         "retargeted_mean": round(float(ret_bs[:, j].mean()), 3),
                         "render_mean": round(float(ren_bs[:, j].mean()), 3),
                         "clipped_at_0": round(float((ret_bs[:, j] <= 1e-6).mean()), 3)})
    geometry = {}
    for m in ("mouth_open", "smile"):
        fn = measures.MEASURES[m]
        d = [fn(driven.canonical[i]) for i in ok]
        r = [fn(np.asarray(fed[i][0])) for i in ok]
        n = [fn(canonicalize(track.landmarks[i]).points) for i in ok]
        geometry[m] = {"driver_vs_retargeted": _corr(d, r), "retargeted_vs_render": _corr(r, n),
                       "driver_vs_render": _corr(d, n), "slope_retargeted_on_driver": _slope(d, r),
                       "slope_render_on_retargeted": _slope(r, n),
                       "driver_range_cm": round(float(np.ptp(d)), 3),
                       "render_range_cm": round(float(np.ptp(n)), 3)}
    settle = switches[-1] if switches else 0
    window = settle if window_from is None else window_from
    late = [k for k, i in enumerate(ok) if i > window]
    regions = {"all": region_correlation(drv_bs, ren_bs),
               "settled": region_correlation(drv_bs[late], ren_bs[late]) if len(late) > 10 else None}
    return {"frames": len(ok), "provisional_changes": len(switches), "last_change_at": settle,
            "self_calibrated": retargeter.state.value, "regions": regions,
            "blendshapes": rows, "geometry": geometry}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=Path, default=REPO / "latentcam/assets/default_target")
    ap.add_argument("--testdata", type=Path, default=REPO / ".cache/testdata")
    a = ap.parse_args()
    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {}
    for clip in CLIPS:
        results[clip] = run(a.testdata / clip, a.target)
        same_window = run(a.testdata / clip, a.target, True, window_from=results[clip]["last_change_at"])
        results[clip]["first_face_rule"] = {k: v for k, v in same_window.items()
                                            if k in ("regions", "provisional_changes", "self_calibrated")}
    load_end = os.getloadavg()
    info = {"date": started, "machine": machine_line(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end], "target": a.target.name,
            "results": results}
    (HERE / "cross_mouth.json").write_text(json.dumps(info, indent=1))
    md = ["# Cross-identity mouth: where the correlation is lost", "",
          f"{started}; {info['machine']}; load average {load_start[0]:.2f} → {load_end[0]:.2f}. "
          f"Target `{a.target.name}`, self-calibrated retargeting (as `cross_default.py`). "
          "Pearson correlation per blendshape: driver → retargeted (calibration) → re-tracked "
          "render (encoder + decoder + MediaPipe). *counted*: moves enough in the driver "
          "(std > 0.02) to enter the region mean of `cross_default.md`; *clipped at 0*: share of "
          "frames where retargeting clipped the score to 0.", ""]
    for clip, r in results.items():
        f = r["first_face_rule"]
        fmt = lambda d: " / ".join("–" if d is None or d.get(k) is None else f"{d[k]:.3f}" for k in ("mouth", "eyes", "brows"))  # noqa: E731
        md += [f"## {clip} ({r['frames']} frames; state at the end: {r['self_calibrated']}; "
               f"provisional neutral changed {r['provisional_changes']} times, last at frame "
               f"{r['last_change_at']})", "",
               "| provisional neutral | mouth / eyes / brows, all frames | after today's last change (same frames for both) |",
               "|---|---|---|",
               f"| most neutral so far (today) | {fmt(r['regions']['all'])} | {fmt(r['regions']['settled'])} |",
               f"| first face (before #11) | {fmt(f['regions']['all'])} | {fmt(f['regions']['settled'])} |", "",
               "Per blendshape, today's rule:", "",
               "| region | blendshape | driver std | counted | driver→retargeted | retargeted→render | "
               "driver→render | retargeted mean | render mean | clipped at 0 |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for row in r["blendshapes"]:
            md.append("| " + " | ".join(str(row[k]) for k in (
                "region", "blendshape", "driver_std", "counted", "driver_vs_retargeted",
                "retargeted_vs_render", "driver_vs_render", "retargeted_mean", "render_mean",
                "clipped_at_0")) + " |")
        md += ["", "| geometry | driver→retargeted | retargeted→render | driver→render | slope retargeted/driver | "
               "slope render/retargeted | driver range cm | render range cm |", "|---|---|---|---|---|---|---|---|"]
        for m, g in r["geometry"].items():
            md.append(f"| {m} | {g['driver_vs_retargeted']} | {g['retargeted_vs_render']} | {g['driver_vs_render']} | "
                      f"{g['slope_retargeted_on_driver']} | {g['slope_render_on_retargeted']} | "
                      f"{g['driver_range_cm']} | {g['render_range_cm']} |")
        md.append("")
    (HERE / "cross_mouth.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
