"""What MediaPipe reads back from the one-photo synthesis' puckered lips, per strength.

    .venv/bin/python benchmarks/latent/pucker_synthesis.py

The sample driver clips hardly pucker, so a one-photo target trained on their expressions
alone never sees an "oo" mouth and cannot render one (`cross_default_compare.md`: the
default target's re-tracked mouthPucker stayed at the floor while the retargeter asked for up
to 0.25). ``latent.photo.pucker_lips`` adds puckered frames to the synthesis; this script warps
the astronaut's neutral face (frame 1 of its synthesis, the sample clips as drivers) with each
strength, tracks the result with MediaPipe (IMAGE mode, as ``prepare`` does) and records the
mouth blendshapes, so the strength range in ``PUCKER_STRENGTH`` is chosen from measurements.
Writes ``pucker_synthesis.json`` / ``.md`` and ``pucker_synthesis.png`` (mouth crops per
strength; the astronaut photo is public domain) here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STRENGTHS = (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
READ = ("mouthPucker", "mouthFunnel", "mouthSmileLeft", "mouthSmileRight", "jawOpen", "mouthClose")


def main() -> None:
    from latentcam.facekit.blendshapes import INDEX
    from latentcam.facekit.landmarks import LIPS_OUTER
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode
    from latentcam.latent.photo import (PUCKER_STRENGTH, PhotoOptions, PhotoSource,
                                        default_driver_clips, pucker_lips)
    from latentcam.realtime.bench import machine_info

    info = machine_info()
    t0 = time.time()
    source = PhotoSource(REPO / ".cache/testdata/astronaut.png", default_driver_clips(), PhotoOptions(frames=2))
    neutral = source.neutral_canonical
    rows, tiles = [], []
    at_rest = source.landmarks_from_canonical(neutral)[list(LIPS_OUTER), :2]   # one crop box for all
    centre = at_rest.mean(axis=0).round().astype(int)
    half = int(np.ptp(at_rest[:, 0]))
    x0, y0 = centre[0] - half, centre[1] - (2 * half) // 3
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE)) as tracker:
        for k in STRENGTHS:
            landmarks = source.landmarks_from_canonical(pucker_lips(neutral, k))
            image = source.rig.render(landmarks)
            face = tracker.track(image, 0, 0.0).face
            read = {n: (None if face is None else round(float(face.blendshapes[INDEX[n]]), 3)) for n in READ}
            rows.append({"strength": k, **read})
            print(rows[-1], flush=True)
            tile = cv2.resize(image[y0:y0 + (4 * half) // 3, x0:x0 + 2 * half], (240, 160),
                              interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"k {k:.2f}  pucker {read['mouthPucker']}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
    half_row = (len(tiles) + 1) // 2
    tiles += [np.zeros_like(tiles[0])] * (2 * half_row - len(tiles))
    cv2.imwrite(str(HERE / "pucker_synthesis.png"),
                np.vstack([np.hstack(tiles[:half_row]), np.hstack(tiles[half_row:])]))
    load_end = os.getloadavg()
    meta = {**info, "load_average_at_end": list(load_end), "seconds": round(time.time() - t0, 1),
            "pucker_strength_range": list(PUCKER_STRENGTH)}
    (HERE / "pucker_synthesis.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    md = ["# One-photo synthesis: puckered lips as MediaPipe reads them", "",
          f"{meta['date_utc']}; {meta['cpu']}, {meta['logical_cores']} logical cores, {meta['os']}; "
          f"load average {meta['load_average_at_start'][0]:.2f} at the start, {load_end[0]:.2f} at the end; "
          f"MediaPipe {meta['versions']['mediapipe']}. Made by `benchmarks/latent/pucker_synthesis.py` "
          f"({meta['seconds']:.0f} s).", "",
          "The astronaut's neutral face (frame 1 of her synthesis) warped with `latent.photo.pucker_lips` "
          "at each strength k and tracked by MediaPipe (IMAGE mode, as `prepare` does). The synthesis "
          f"draws k from {PUCKER_STRENGTH[0]}–{PUCKER_STRENGTH[1]} (`PUCKER_STRENGTH`) for its puckered "
          "frames. Mouth crops per strength: `pucker_synthesis.png`.", "",
          "| strength k | " + " | ".join(READ) + " |", "|---|" + "---|" * len(READ)]
    md += [f"| {r['strength']:.2f} | " + " | ".join(fmt(r[n]) for n in READ) + " |" for r in rows]
    (HERE / "pucker_synthesis.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
