#!/usr/bin/env python3
"""Tracking cost per frame on 640x360 input (single_face.mp4), variants side by side.

Interleaves the variants round by round so machine noise hits them alike. Writes
results.json and results.md next to this script.
Usage: python benchmarks/tracking/bench_tracking.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import cv2
import numpy as np

from latentcam.facekit.sources import open_source
from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode
from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
CLIP = HERE.parent.parent / ".cache" / "testdata" / "single_face.mp4"
VARIANTS = {
    "video, max_faces=1": TrackerOptions(max_faces=1),
    "video, max_faces=2 (default)": TrackerOptions(max_faces=2),
    "image mode (detect every frame)": TrackerOptions(mode=TrackingMode.IMAGE, max_faces=1),
}


def load_frames() -> list[np.ndarray]:
    with open_source(CLIP) as src:
        frames = []
        while (f := src.read()) is not None:
            frames.append(f.image)
    return frames


def run_once(options: TrackerOptions, frames: list[np.ndarray]) -> list[float]:
    with FaceTracker(options) as tracker:
        times = []
        for i, image in enumerate(frames):
            r = tracker.track(image, i, i / 30.0)
            if i >= 5:  # skip warm-up frames
                times.append(r.elapsed_ms)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not CLIP.exists():
        raise SystemExit("run `python scripts/fetch_test_data.py` first")
    frames = load_frames()
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, options in VARIANTS.items():
            samples[name] += run_once(options, frames)
    import mediapipe

    results = {
        "date": dt.date.today().isoformat(),
        "machine": machine_line(),
        "versions": {"mediapipe": mediapipe.__version__, "opencv": cv2.__version__, "python": platform.python_version()},
        "input": f"{CLIP.name} {frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames x {args.rounds} rounds",
        "variants": {name: {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95)),
                            "mean_ms": float(np.mean(t)), "frames": len(t)} for name, t in samples.items()},
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Tracking cost per frame ({results['date']})", "",
             f"Machine: {results['machine']}; versions: {results['versions']}; input: {results['input']}.", "",
             "| variant | p50 ms | p95 ms | mean ms |", "|---|---|---|---|"]
    for name, r in results["variants"].items():
        lines.append(f"| {name} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['mean_ms']:.1f} |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
