"""Before/after renders of the embedded default target (astronaut) as one PNG grid.

    .venv/bin/python benchmarks/latent/default_target_grid.py \
        --bundle before=.cache/default_target/before --bundle after=latentcam/assets/default_target \
        [--data .cache/default_target/data]

Columns: neutral, widest smile, widest open mouth, eyes closed, head turn, pucker. The expressions are
picked from the one-photo training set (``latentcam prepare --photo``; synthesised from the
public-domain portrait, no clip pixels) by its tracked blendshapes and pose; the first row is that
training frame itself, each further row a bundle's render of the same expression (its encoder on
the frame's tracked landmarks, blendshapes and pose, its decoder through ONNX Runtime), over the
bundle's own background colour at the crop corners. Each bundle's ``decoder.onnx`` is also timed
(ONNX Runtime CPU, 2 threads, batch 1, blocks of runs taken in turn so all see the same load).
Writes ``default_target_grid.png`` and ``default_target_grid.md`` (bundles, decoder kind,
training steps, decode ms, date, machine) here.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from latentcam.realtime.bench import machine_line

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TILE = 256


def pick_expressions(data) -> dict[str, int]:
    """Dataset frame index per grid column, from the tracked blendshapes and head pose."""
    from latentcam.facekit.blendshapes import GROUPS, indices
    from latentcam.latent.dataset import neutral_score

    bs, pose = data.blendshapes, data.pose
    group = lambda name: bs[:, indices(GROUPS[name])].mean(axis=1)  # noqa: E731
    frontal = np.abs(pose[:, :2]).max(axis=1) < 8.0
    calm_mouth = group("mouth_open") < 0.15
    return {
        "neutral": int(np.argmin(neutral_score(bs, pose))),
        "widest smile": int(np.argmax(np.where(frontal, group("smile") - group("mouth_open") * 0.5, -9))),
        "open mouth": int(np.argmax(np.where(frontal, bs[:, indices(("jawOpen",))[0]], -9))),
        "eyes closed": int(np.argmax(np.where(frontal & calm_mouth, group("blink"), -9))),
        "head turn": int(np.argmax(np.abs(pose[:, 0]) - 3.0 * group("mouth_open"))),
        "pucker": int(np.argmax(np.where(frontal, bs[:, indices(("mouthPucker",))[0]], -9))),
    }


def over_background(bgra: np.ndarray) -> np.ndarray:
    alpha = bgra[:, :, 3:4].astype(np.float32) / 255.0
    grey = np.full_like(bgra[:, :, :3], 128)
    return (bgra[:, :, :3] * alpha + grey * (1 - alpha)).astype(np.uint8)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = cv2.resize(tile, (TILE, TILE), interpolation=cv2.INTER_AREA).copy()
    cv2.rectangle(tile, (0, 0), (TILE, 20), (0, 0, 0), -1)
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def decode_ms(folders: list[Path], rounds: int = 10, per_block: int = 20) -> list[dict]:
    """Median / p90 / min ms of each bundle's decoder, timed in interleaved blocks."""
    import time as clock

    from latentcam.latent.onnx_session import cpu_session

    sessions = [cpu_session(folder / "decoder.onnx", 2) for folder in folders]
    z = np.random.default_rng(0).standard_normal((1, 128)).astype(np.float32)
    times: list[list[float]] = [[] for _ in folders]
    for _ in range(rounds):
        for session, out in zip(sessions, times):
            feed = {session.get_inputs()[0].name: z[:, :session.get_inputs()[0].shape[1]]}
            for _ in range(3):
                session.run(None, feed)
            for _ in range(per_block):
                t0 = clock.perf_counter()
                session.run(None, feed)
                out.append((clock.perf_counter() - t0) * 1e3)
    return [{"p50": float(np.median(t)), "p90": float(np.percentile(t, 90)), "min": float(np.min(t))}
            for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, metavar="LABEL=DIR",
                    help="a row: label and target bundle folder (repeatable, in row order)")
    ap.add_argument("--data", type=Path, default=REPO / ".cache/default_target/data")
    ap.add_argument("--out", default="default_target_grid", help="file stem written here")
    a = ap.parse_args()

    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.renderer import BundleRenderer
    from latentcam.latent.training_data import load_training_data

    data = load_training_data(a.data)
    picks = pick_expressions(data)
    rows = [np.concatenate([label(data.images[i], f"training frame: {name}") for name, i in picks.items()], axis=1)]
    md_rows = []
    for spec in a.bundle:
        name, _, folder = spec.partition("=")
        bundle = TargetBundle.load(Path(folder))
        kind = bundle.decoder_kind
        steps = bundle.manifest["provenance"].get("training", {}).get("steps", "?")
        tiles = []
        with BundleRenderer(bundle) as renderer:
            for column, i in picks.items():
                tiles.append(label(over_background(renderer.render(data.features[i])), f"{name}: {column}"))
        rows.append(np.concatenate(tiles, axis=1))
        md_rows.append(f"| {name} | `{folder}` | {kind} | {steps} | {bundle.manifest['created']} |")
    cv2.imwrite(str(HERE / f"{a.out}.png"), np.concatenate(rows, axis=0))
    timings = decode_ms([Path(spec.partition("=")[2]) for spec in a.bundle])
    md_rows = [row + f" {t['p50']:.2f} / {t['p90']:.2f} / {t['min']:.2f} |" for row, t in zip(md_rows, timings)]
    import onnxruntime as ort

    load = os.getloadavg()
    md = ["# Default target (astronaut): before / after renders", "",
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine_line()}; "
          f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} after the "
          f"run; ONNX Runtime {ort.__version__}. Made by "
          "`benchmarks/latent/default_target_grid.py`.", "",
          f"![grid]({a.out}.png)", "",
          "Row 1: the one-photo training frame with each expression (frames "
          + ", ".join(f"{k} #{v}" for k, v in picks.items()) + "); further rows: each bundle's render of "
          "that frame's tracked expression (encoder + decoder, ONNX Runtime).", "",
          "| row | bundle | decoder | training steps | created | decode ms p50 / p90 / min (ONNX Runtime CPU, 2 threads) |",
          "|---|---|---|---|---|---|", *md_rows]
    (HERE / f"{a.out}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
