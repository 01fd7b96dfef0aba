#!/usr/bin/env python3
"""Retargeting on real clips: cost per frame and cross-identity behaviour in landmark space.

Driver single_face.mp4 (a man, neutral → smile) onto a target made from
WolfgangLanger_Pexels.mp4 (a woman, crying → laughing), and the reverse. For each condition:

* identity leak: mean distance (cm, canonical frame) between the retargeted face during the
  driver's neutral frames and the target's neutral — 0 means none of the driver's face shape
  reaches the target; the raw distance between the two people is given for scale;
* expression transfer: Pearson correlation over frames between the driver's expression
  measures (smile, mouth_open, eyes_closed, brows_up; ``calibration.measures``) and the same
  measures on the retargeted face;
* cost: ``Retargeter.process`` per frame (canonicalize included), variants interleaved.

This needs no decoder; the render-level report (re-tracked renders) needs ``latentcam eval``.
Writes results.json and results.md next to this script.
Usage: python benchmarks/calibration/bench_retarget.py
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from latentcam.calibration import (CalibrationProfile, NeutralCapture, NeutralCaptureOptions, Retargeter,
                                   RetargetMode, RetargetOptions, TargetGeometry)
from latentcam.calibration import measures
from latentcam.facekit.blendshapes import GROUPS, indices
from latentcam.facekit.geometry import canonicalize, head_pose
from latentcam.facekit.sources import open_source
from latentcam.facekit.tracker import FaceTracker
from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / ".cache" / "testdata"
EXPRESSION_MEASURES = ("smile", "mouth_open", "eyes_closed", "brows_up")
_EXPR = indices(GROUPS["smile"] + GROUPS["mouth_open"] + GROUPS["brows_up"] + GROUPS["blink"])


def track(name: str):
    faces, times = [], []
    with open_source(DATA / name) as src, FaceTracker() as tracker:
        while (frame := src.read()) is not None:
            face = tracker.track(frame.image, frame.index, frame.capture_time).face
            if face is not None:
                faces.append(face)
                times.append(frame.index / src.info.fps)
    return faces, times


def most_neutral(faces, count: int = 10) -> list[int]:
    """Frames with the least expression (sum of smile, mouth, brow and blink scores)."""
    score = np.array([f.blendshapes[_EXPR].sum() for f in faces])
    return list(np.argsort(score)[:count])


def target_from(faces) -> TargetGeometry:
    points = np.stack([canonicalize(f.landmarks_px).points for f in faces])
    poses = np.array([head_pose(f.head_transform) for f in faces])
    idx = most_neutral(faces)
    neutral = points[idx].mean(axis=0)
    return TargetGeometry(neutral, poses.min(axis=0), poses.max(axis=0), np.median(poses[idx], axis=0),
                          neutral_blendshapes=np.median([faces[i].blendshapes for i in idx], axis=0),
                          ranges=measures.measure_ranges(neutral, points))


def profile_from(faces, times) -> CalibrationProfile:
    """The calibrate command's neutral capture on the clip; the least-expressive frames when the
    clip never holds a neutral face for 0.5 s (the woman's clip)."""
    capture = NeutralCapture(NeutralCaptureOptions(seconds=0.5))
    for face, t in zip(faces, times):
        capture.feed(face, t)
        if capture.done:
            r = capture.result
            source = "neutral capture"
            pts, pose, bs = r.points, r.pose, r.blendshapes
            break
    else:
        idx = most_neutral(faces)
        source = "10 least-expressive frames"
        pts = np.mean([canonicalize(faces[i].landmarks_px).points for i in idx], axis=0)
        pose = np.median([head_pose(faces[i].head_transform) for i in idx], axis=0)
        bs = np.median([faces[i].blendshapes for i in idx], axis=0)
    points = np.stack([canonicalize(f.landmarks_px).points for f in faces])
    # Ranges only for what both clips actually show (smiles, open mouths): they are not guided
    # sessions, so e.g. the man's "eyes_closed" range would be a smile's squint, not a blink.
    ranges = {k: v for k, v in measures.measure_ranges(pts, points).items()
              if k in ("smile", "mouth_open") and v >= measures.MIN_RANGE[k]}
    return CalibrationProfile(pts, pose, bs, ranges=ranges, source=source)


def evaluate(retargeter: Retargeter, faces, times, target: TargetGeometry, neutral_idx: list[int]) -> dict:
    outs = [retargeter.process(f, t) for f, t in zip(faces, times)]
    driver_pts = [canonicalize(f.landmarks_px).points for f in faces]
    leak = float(np.mean([np.linalg.norm(outs[i].points - target.neutral_points, axis=1).mean()
                          for i in neutral_idx]))
    corr = {}
    for name in EXPRESSION_MEASURES:
        fn = measures.MEASURES[name]
        a = np.array([fn(p) for p in driver_pts])
        b = np.array([fn(o.points) for o in outs])
        corr[name] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-6 and b.std() > 1e-6 else float("nan")
    return {"identity_leak_cm": round(leak, 4),
            "expression_correlation": {k: round(v, 3) for k, v in corr.items()},
            "events": [e.message for e in retargeter.poll_events()]}


def timing(profile, target, faces, times, rounds: int = 3) -> dict:
    variants = {
        "canonicalize only": None,
        "relative (default)": RetargetOptions(),
        "relative + mirror": RetargetOptions(mirror=True),
        "absolute": RetargetOptions(mode=RetargetMode.ABSOLUTE),
    }
    samples = {k: [] for k in variants}
    for _ in range(rounds):
        for name, opts in variants.items():
            r = None if opts is None else Retargeter(profile, target, opts)
            for f, t in zip(faces, times):
                start = time.perf_counter()
                if r is None:
                    canonicalize(f.landmarks_px)
                else:
                    r.process(f, t)
                samples[name].append((time.perf_counter() - start) * 1000.0)
    return {k: {"p50_ms": round(float(np.percentile(v, 50)), 4), "p95_ms": round(float(np.percentile(v, 95)), 4)}
            for k, v in samples.items()}


def run_pair(driver_name: str, target_name: str, tracks: dict) -> dict:
    faces, times = tracks[driver_name]
    target = target_from(tracks[target_name][0])
    profile = profile_from(faces, times)
    neutral_idx = most_neutral(faces)
    raw_gap = float(np.mean([np.linalg.norm(canonicalize(faces[i].landmarks_px).points - target.neutral_points,
                                            axis=1).mean() for i in neutral_idx]))
    conditions = {
        "absolute (no calibration)": Retargeter(profile, target, RetargetOptions(mode=RetargetMode.ABSOLUTE)),
        "relative, self-calibrated (no profile)": Retargeter(
            None, target, RetargetOptions(self_calibration=NeutralCaptureOptions(seconds=0.5))),
        "relative, profile (neutral only)": Retargeter(
            CalibrationProfile(profile.neutral_points, profile.neutral_pose, profile.neutral_blendshapes),
            target),
        "relative, profile + ranges": Retargeter(profile, target),
    }
    return {"driver": driver_name, "target": target_name, "profile_neutral": profile.source,
            "driver_ranges": profile.ranges, "target_ranges": dict(target.ranges),
            "raw_identity_gap_cm": round(raw_gap, 4),
            "conditions": {k: evaluate(r, faces, times, target, neutral_idx) for k, r in conditions.items()}}


def main() -> None:
    names = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")
    tracks = {n: track(n) for n in names}
    pairs = [run_pair(names[0], names[1], tracks), run_pair(names[1], names[0], tracks)]
    faces, times = tracks[names[0]]
    cost = timing(profile_from(faces, times), target_from(tracks[names[1]][0]), faces, times)
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{machine_line()} "
                   "(shared, loaded by other jobs)",
        "pairs": pairs, "cost_per_frame": cost,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Retargeting: cross-identity in landmark space ({result['date']})", "",
             f"Machine: {result['machine']}. Timings are from a shared, loaded machine.", ""]
    for pair in pairs:
        lines += [f"## driver {pair['driver']} → target {pair['target']}", "",
                  f"Raw identity gap (driver's neutral frames vs target neutral): "
                  f"{pair['raw_identity_gap_cm']:.3f} cm. Profile neutral from: {pair['profile_neutral']}.", "",
                  "| condition | identity leak cm | " + " | ".join(f"r({m})" for m in EXPRESSION_MEASURES) + " |",
                  "|---|---|" + "---|" * len(EXPRESSION_MEASURES)]
        for name, c in pair["conditions"].items():
            lines.append(f"| {name} | {c['identity_leak_cm']:.3f} | "
                         + " | ".join(f"{c['expression_correlation'][m]:.3f}" for m in EXPRESSION_MEASURES) + " |")
        lines.append("")
    lines += ["## Cost per frame (Retargeter.process, canonicalize included)", "",
              "| variant | p50 ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {k} | {v['p50_ms']:.3f} | {v['p95_ms']:.3f} |" for k, v in cost.items()]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
