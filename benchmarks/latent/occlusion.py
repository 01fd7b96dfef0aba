"""Occluded frames per sample clip: how many ``latentcam prepare`` flags, which face parts, cost.

    .venv/bin/python benchmarks/latent/occlusion.py [--size 256]

Each clip is prepared into a temporary dataset with the real builder (MediaPipe face landmarker
+ HandLandmarker, ``latent/dataset.py``); the hand check alone is also timed per frame
(``facekit.hands.HandTracker`` in VIDEO mode on the full frame, plus building the occluder mask
and the covered parts in the crop). Writes ``occlusion.json`` / ``occlusion.md`` next to this
script, and ``side_by_side_occlusion.png`` (flagged crops with their occluder masks; made from
the third-party clips, so never committed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from latentcam.realtime.bench import cpu_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    """Consecutive frame numbers as (first, last) runs."""
    out = []
    for _, g in itertools.groupby(enumerate(frames), lambda t: t[1] - t[0]):
        g = list(g)
        out.append((g[0][1], g[-1][1]))
    return out


def _time_hand_check(clip: Path, ds, size: int) -> dict:
    """ms per frame of the hand check alone, on the dataset's kept frames."""
    from latentcam.facekit.hands import HandTracker
    from latentcam.latent.occlusion import frame_occlusion, hands_to_crop

    kept = dict(zip(ds.frame_index.tolist(), range(len(ds))))
    track_ms, mask_ms = [], []
    cap = cv2.VideoCapture(str(clip))
    with HandTracker() as hands:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i in kept:
                k = kept[i]
                r = hands.track(frame, i / 30.0)
                track_ms.append(r.elapsed_ms)
                if len(r):
                    t0 = time.perf_counter()
                    frame_occlusion(hands_to_crop(r.landmarks_px, ds.alignment[k]),
                                    ds.crop_landmarks[k], size)
                    mask_ms.append((time.perf_counter() - t0) * 1000)
            i += 1
    cap.release()
    return {"hand_tracker_ms_median": round(float(np.median(track_ms)), 2),
            "hand_tracker_ms_p90": round(float(np.percentile(track_ms, 90)), 2),
            "mask_and_parts_ms_median": round(float(np.median(mask_ms)), 2) if mask_ms else None}


def _panel(ds, picks: list[int]) -> np.ndarray:
    rows = []
    for i in picks:
        crop = ds.crop(i)
        mask = ds.occlusion_mask(i)
        shown = crop.copy()
        hit = mask > 0
        shown[hit] = (0.45 * shown[hit] + np.array([0, 0, 140])).astype(np.uint8)
        face = ds.mask(i)
        contours, _ = cv2.findContours((face >= 128).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(shown, contours, -1, (255, 255, 0), 1)
        tiles = [crop, cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR), shown]
        label = f"frame {int(ds.frame_index[i])}: {ds.occluded_fraction[i]:.0%} of face"
        cv2.putText(tiles[0], label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([cv2.resize(t, (256, 256)) for t in tiles], axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--note", default="other helpers' jobs running",
                    help="machine state written into the report")
    a = ap.parse_args()

    import mediapipe

    from latentcam.latent.dataset import PrepareOptions, VideoSource, load_dataset, prepare
    from latentcam.latent.face_regions import PARTS

    rows, panels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            path = REPO / ".cache" / "testdata" / clip
            t0 = time.perf_counter()
            prepare(VideoSource(path), Path(tmp) / clip, PrepareOptions(size=a.size), coverage=False)
            prepare_s = time.perf_counter() - t0
            ds = load_dataset(Path(tmp) / clip)
            occ = ds.occluded
            flagged = ds.frame_index[occ].tolist()
            with_hand = int((ds.hand_count > 0).sum())
            part_frames = {p: int(((ds.occluded_parts[:, k] >= 0.1) & occ).sum())
                           for k, p in enumerate(PARTS)}
            part_mean = {p: round(float(ds.occluded_parts[occ, k].mean()), 3) if occ.any() else 0.0
                         for k, p in enumerate(PARTS)}
            row = {"clip": clip, "frames": len(ds), "frames_with_hand": with_hand,
                   "frames_occluded": int(occ.sum()), "occluded_runs": _runs(flagged),
                   "face_fraction_mean_when_occluded":
                       round(float(ds.occluded_fraction[occ].mean()), 3) if occ.any() else 0.0,
                   "frames_per_part": part_frames, "mean_part_fraction_when_occluded": part_mean,
                   "background_frame": ds.manifest["background_frame"],
                   "prepare_s": round(prepare_s, 1),
                   "prepare_ms_per_frame": round(prepare_s * 1000 / len(ds), 1),
                   **_time_hand_check(path, ds, a.size)}
            rows.append(row)
            idx = np.flatnonzero(occ)
            if len(idx):
                picks = idx[np.linspace(0, len(idx) - 1, min(4, len(idx))).round().astype(int)]
                clean = np.flatnonzero(~occ)
                panels.append(_panel(ds, list(picks) + ([int(clean[len(clean) // 2])] if len(clean) else [])))
    if panels:
        cv2.imwrite(str(HERE / "side_by_side_occlusion.png"), np.concatenate(panels, axis=0))
    load = os.getloadavg()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": a.size,
              "mediapipe": mediapipe.__version__, "opencv": cv2.__version__,
              "cpu": cpu_name(), "cores": os.cpu_count(),
              "load_average_1_5_15": [round(x, 2) for x in load], "note": a.note, "rows": rows}
    (HERE / "occlusion.json").write_text(json.dumps(result, indent=1))
    md = ["# Occluded training frames: hands over the face, per sample clip", "",
          f"`latentcam prepare` at {a.size}² on each whole clip; a frame is *occluded* when the "
          "hand check's occluder mask (MediaPipe HandLandmarker, `latent/occlusion.py`) covers "
          "≥ 2 % of its face mask; a part counts when ≥ 10 % of it is covered. Hand tracker: "
          "VIDEO mode on the full frame, kept frames only. MediaPipe "
          f"{mediapipe.__version__}, OpenCV {cv2.__version__}; {os.cpu_count()} CPU cores "
          f"({result['cpu']}), {a.note}, load average {load[0]:.1f}; {result['date']}.", "",
          "| clip | frames | with a hand | occluded | occluded frames | face covered (mean) | "
          "frames per part | hand tracker ms p50 / p90 | mask + parts ms p50 (frames with a hand) | "
          "prepare ms/frame |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        runs = ", ".join(f"{x}–{y}" for x, y in r["occluded_runs"]) or "–"
        parts = ", ".join(f"{p} {n}" for p, n in r["frames_per_part"].items() if n) or "–"
        ms = r["mask_and_parts_ms_median"]
        mask_ms = "– (no hand)" if ms is None else f"{ms:.2f}"
        md.append(f"| {r['clip']} | {r['frames']} | {r['frames_with_hand']} | {r['frames_occluded']} | "
                  f"{runs} | {r['face_fraction_mean_when_occluded']:.0%} | {parts} | "
                  f"{r['hand_tracker_ms_median']:.1f} / {r['hand_tracker_ms_p90']:.1f} | "
                  f"{mask_ms} | {r['prepare_ms_per_frame']:.1f} |")
    md += ["", "Frame numbers are the clips' own. The background plate is chosen among "
           "unoccluded frames (`background_frame`: "
           + ", ".join(f"{r['clip']} {r['background_frame']}" for r in rows) + "). "
           "`side_by_side_occlusion.png` (not committed: third-party clips) shows flagged crops, "
           "their occluder masks and the mask over the crop with the face outline, and one "
           "unflagged crop per clip."]
    (HERE / "occlusion.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
