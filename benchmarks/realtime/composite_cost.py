"""What the compositor costs per frame, before and after issue #11, side by side in one run.

    nice .venv/bin/python benchmarks/realtime/composite_cost.py

One real frame of ``single_face.mp4`` (tracked by MediaPipe) and the embedded default target's
render of it (ONNX Runtime); each variant — portrait and paste, ``legacy`` (before) and default
(after), at 640×360 and 1280×720 — composites it ``--runs`` times in a row (portrait with a small
head motion, so the backdrop is moved; the one-off plate fill happens before timing). Reports
min / median / p90 ms. OpenCV on 2 threads, as the live path. Writes ``composite_cost.json`` /
``.md`` here with machine, versions, date and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from latentcam.realtime.bench import machine_line

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--clip", type=Path, default=REPO / ".cache/testdata/single_face.mp4")
    a = ap.parse_args()
    cv2.setNumThreads(2)
    import onnxruntime

    from latentcam.realtime.composite import CompositeOptions, Compositor
    from latentcam.realtime.config import LiveConfig, apply_overrides
    from latentcam.realtime.session import build_stages

    cap = cv2.VideoCapture(str(a.clip))
    with ExitStack() as stack:
        built = build_stages(apply_overrides(LiveConfig(), {"engine.name": "onnxruntime"}), stack)
        st, target = built.stages, built.target
        for i in range(6):
            ok, frame = cap.read()
            face = st.tracker.track(frame, i, i / 30.0).face
            r = st.retarget(face, i / 30.0)
        crop = st.decoder.run(st.encoder.encode(r)).copy()
    cap.release()
    motion = np.array([[1.02, 0.0, 6.0], [0.0, 1.02, -4.0]])
    load_start = os.getloadavg()
    rows = []
    for size in ((640, 360), (1280, 720)):
        for mode in ("portrait", "paste"):
            for legacy in (True, False):
                comp = Compositor(replace(CompositeOptions(), mode=mode, legacy=legacy), target.crop_size,
                                  size, plate=target.plate, plate_to_crop=target.plate_to_crop)
                call = ((lambda: comp.portrait(crop, motion)) if mode == "portrait"
                        else (lambda: comp.paste(crop, frame, face.landmarks_px)))
                for _ in range(5):
                    call()                       # warm-up; the plate fill happens here
                ts = []
                for _ in range(a.runs):
                    t0 = time.perf_counter()
                    call()
                    ts.append((time.perf_counter() - t0) * 1000.0)
                t = np.array(ts)
                rows.append({"size": f"{size[0]}x{size[1]}", "mode": mode,
                             "variant": "before" if legacy else "after",
                             "ms_min": round(float(t.min()), 3), "ms_median": round(float(np.median(t)), 3),
                             "ms_p90": round(float(np.percentile(t, 90)), 3)})
    load_end = os.getloadavg()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info = {"date": date, "machine": machine_line(),
            "python": platform.python_version(), "opencv": cv2.__version__,
            "onnxruntime": onnxruntime.__version__, "runs": a.runs,
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end], "rows": rows}
    (HERE / "composite_cost.json").write_text(json.dumps(info, indent=1))
    md = ["# Compositor cost per frame, before and after issue #11", "",
          f"{date}; {info['machine']}; Python {info['python']}, OpenCV {info['opencv']} (2 threads); "
          f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end (shared "
          f"machine: medians are inflated by other jobs, minima are closest to the cost alone). "
          f"{a.runs} consecutive calls per row on one real frame and render; portrait with a "
          "small head motion (the backdrop is moved every call).", "",
          "| output | mode | variant | ms min | ms median | ms p90 |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['size']} | {r['mode']} | {r['variant']} | {r['ms_min']} | {r['ms_median']} | {r['ms_p90']} |")
    (HERE / "composite_cost.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
