#!/usr/bin/env python3
"""What the invisible watermark costs in the live pipeline: `latentcam bench` with and without it.

Two whole-pipeline benchmarks in one process, one after the other, identical but for the
watermark stage (`BenchOptions.watermark`, i.e. `latentcam bench --no-watermark`): the
passthrough baseline (camera → composite → label → watermark → virtual-camera stand-in) and
the ONNX Runtime pipeline, paced at 30 fps behind the camera source (the latency a user sees)
and as fast as possible. Reported side by side: the watermark stage's own time (p50/p95 per
frame, from the pipeline's stage timers), end-to-end latency p50/p95/p99, fps, drops and CPU %,
with the load average at the start and end of each half (the machine is shared: compare the
watermark stage's own time first; end-to-end differences below the run-to-run noise mean
nothing). Each bench's own files go to pipeline_cost/{on,off}/; the table to
pipeline_cost.md/.json.

Usage: nice -n 5 python benchmarks/provenance/pipeline_cost.py [--frames 300] [--clip CLIP]
       python benchmarks/provenance/pipeline_cost.py --markdown-only   (the .md again from the .json)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from latentcam.realtime.bench import BenchOptions, load_state, run_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIP = REPO / ".cache" / "testdata" / "WolfgangLanger_Pexels.mp4"


KEYS = ("e2e_ms", "fps", "dropped", "source_dropped", "cpu_percent")


def _f(v, d=1) -> str:
    return "–" if v is None else f"{v:.{d}f}"


def _row(key: str, run: dict) -> str:
    def cells(r: dict) -> list[str]:
        e, w = r["e2e_ms"], r["watermark_ms"]
        return [_f(w["p50"], 2), _f(w["p95"], 2), _f(e["p50"]), _f(e["p95"]), _f(e["p99"]), _f(r["fps"]),
                str(r["dropped"] + r["source_dropped"]), _f(r["cpu_percent"], 0)]

    return "| " + key + " | " + " | ".join(f"{x} / {y}" for x, y in zip(cells(run["on"]), cells(run["off"]))) + " |"


def measure(frames: int, clip: Path) -> dict:
    reports = {}
    for name, watermark in (("on", True), ("off", False)):
        opts = BenchOptions(clip=clip, out_dir=HERE / "pipeline_cost" / name, engines=("onnxruntime",),
                            frames=frames, fps=30.0, modes=("serial",), lag=False, record_choice=False,
                            watermark=watermark)
        reports[name] = run_bench(opts, log=lambda m, n=name: print(f"[watermark {n}] {m}", flush=True))
    on, off = reports["on"], reports["off"]
    m = on["machine"]
    return {
        "date_utc": m["date_utc"], "machine": {k: m[k] for k in ("cpu", "logical_cores", "os", "gpus")},
        "versions": m["versions"], "clip": on["clip"],
        "options": {k: v for k, v in on["options"].items() if k not in ("clip", "out_dir")} | {"watermark": "on / off"},
        "load_average_1_5_15": {n: [r["machine"]["load_average_at_start"], r["machine"].get("load_average_at_end")]
                                for n, r in reports.items()},
        "runs": {k: {n: {kk: r["runs"][k][kk] for kk in KEYS} | {"watermark_ms": r["runs"][k]["stages_ms"]["watermark"]}
                     for n, r in reports.items()}
                 for k in on["runs"]},
        "targets_cpu": {n: r.get("targets_cpu") for n, r in reports.items()},
    }


def markdown(result: dict) -> str:
    m, o, loads = result["machine"], result["options"], result["load_average_1_5_15"]
    lines = [
        "# The invisible watermark's cost in the live pipeline", "",
        f"- date (UTC): {result['date_utc']}; machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['os']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v),
        f"- `latentcam bench --engines onnxruntime --modes serial --no-lag` with the watermark on, then with "
        f"`--no-watermark` (`benchmarks/provenance/pipeline_cost.py`): clip {result['clip']['path']} scaled to "
        f"{o['input_size'][0]}×{o['input_size'][1]}, output {o['output_size'][0]}×{o['output_size'][1]}, "
        f"{o['frames']} frames per run, paced at {o['fps']:g} fps",
        "- load average (1, 5, 15 min) at start → end: "
        + "; ".join(f"watermark {n}: {', '.join(f'{x:.2f}' for x in la[0])} → {', '.join(f'{x:.2f}' for x in la[1])}"
                    for n, la in loads.items() if la[0] and la[1]),
        "- " + load_state([la for pair in loads.values() for la in pair], m["logical_cores"]),
        "",
        "Each cell: watermark **on / off**. The watermark columns are the stage's own time per frame (every view "
        "of the frame; off = the stage does nothing). The two halves ran one after the other: on a shared machine "
        "their end-to-end figures differ by whatever else was running, so read the stage's own time first.",
        "",
        "| run | watermark p50 ms | watermark p95 ms | e2e p50 ms | e2e p95 ms | e2e p99 ms | fps | drops | CPU % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(k, r) for k, r in result["runs"].items()]
    paced = result["runs"].get("onnxruntime/serial/paced", {}).get("on")
    if paced and paced["e2e_ms"]["p50"] and paced["watermark_ms"]["p50"] is not None:
        share = 100.0 * paced["watermark_ms"]["p50"] / paced["e2e_ms"]["p50"]
        lines += ["", f"With the watermark on, its stage p50 is {share:.1f} % of the ONNX Runtime pipeline's paced "
                      f"end-to-end p50 ({_f(paced['watermark_ms']['p50'], 2)} of {_f(paced['e2e_ms']['p50'])} ms)."]
    t = result["targets_cpu"]
    if t.get("on") and t.get("off"):
        def met(x):
            return "MET" if x["no_drops"] and x["p50_ok"] and x["p99_ok"] else "NOT MET"
        lines += ["", f"CPU pipeline targets (paced 30 fps: no drops, e2e p50 ≤ {t['on']['limits']['p50_ms']:g} ms, "
                      f"p99 ≤ {t['on']['limits']['p99_ms']:g} ms): watermark on {met(t['on'])} (drops "
                      f"{t['on']['drops']}), off {met(t['off'])} (drops {t['off']['drops']})."]
    lines += ["", "Full bench reports: `pipeline_cost/on/bench.md`, `pipeline_cost/off/bench.md`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--markdown-only", action="store_true", help="Rewrite pipeline_cost.md from pipeline_cost.json.")
    args = ap.parse_args()
    if args.markdown_only:
        result = json.loads((HERE / "pipeline_cost.json").read_text())
    else:
        result = measure(args.frames, args.clip)
        (HERE / "pipeline_cost.json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    (HERE / "pipeline_cost.md").write_text(md)
    print(md + f"load average now: {os.getloadavg()}")


if __name__ == "__main__":
    main()
