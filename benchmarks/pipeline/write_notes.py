"""Regenerate the numbers in this folder's notes from the result file, never by hand.

Reads ``bench.json`` (written by ``latentcam bench --out benchmarks/pipeline``) and rewrites
``bench.md`` (``realtime.bench.markdown``) and the results section of ``README.md`` between its
``<!-- results -->`` markers. Run it after every benchmark run:

    latentcam bench --out benchmarks/pipeline --frames 300
    python benchmarks/pipeline/write_notes.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentcam.realtime.bench import EARLIER_SINK_NOTE, load_state, markdown

HERE = Path(__file__).resolve().parent
BEGIN = "<!-- results: written by write_notes.py from bench.json; do not edit by hand -->"
END = "<!-- end of results -->"


def _ms(v) -> str:
    return "–" if v is None else f"{v:.1f} ms"


def results_section(report: dict) -> str:
    m, o = report["machine"], report["options"]
    runs, engine = report["runs"], report["engines"][0]
    lines = [
        f"## Results ({m['date_utc'][:10]}, {m['cpu']}, {m['logical_cores']} cores, GPU: {', '.join(m['gpus'])})",
        "",
        f"Load: {load_state([m['load_average_at_start'], m.get('load_average_at_end')], m['logical_cores'])}.",
        f"Target {report.get('target')}, `{report['clip']['path']}` at {o['input_size'][0]}×{o['input_size'][1]}, "
        f"{o['output_size'][0]}×{o['output_size'][1]} output, {engine} ({o['threads']} threads), "
        f"{o['frames']} frames per run. Sink: {report.get('sink', EARLIER_SINK_NOTE)}.",
        "",
        f"| run (paced {o['fps']:g} fps) | e2e p50 | e2e p99 | drops | track p50 | decode p50 | composite p50 | sink p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, key in (("passthrough", "passthrough/serial/paced"),
                      *((mode, f"{engine}/{mode}/paced") for mode in o["modes"])):
        r = runs.get(key)
        if r is None:
            continue
        st = r["stages_ms"]
        lines.append(f"| {name} | {_ms(r['e2e_ms']['p50'])} | {_ms(r['e2e_ms']['p99'])} | "
                     f"{r['dropped'] + r['source_dropped']} | {_ms(st['track']['p50'])} | "
                     f"{_ms(st['decode']['p50'])} | {_ms(st['composite']['p50'])} | {_ms(st['sink']['p50'])} |")
    fast = {k.split("/")[1] if not k.startswith("passthrough") else "passthrough": r["fps"]
            for k, r in runs.items() if k.endswith("/fast")}
    lines += ["", "Throughput as fast as possible: "
              + ", ".join(f"{v:.1f} fps {k}" for k, v in fast.items() if v is not None) + "."]
    t = report.get("targets_cpu")
    if t:
        met = t["no_drops"] and t["p50_ok"] and t["p99_ok"]
        lines.append(f"CPU targets (paced, no drops, p50 ≤ {t['limits']['p50_ms']:g} ms, p99 ≤ "
                     f"{t['limits']['p99_ms']:g} ms) by the chosen schedule: **{'met' if met else 'not met'}** "
                     f"(drops {t['drops']}, p50 {_ms(t['p50_ms'])}, p99 {_ms(t['p99_ms'])}).")
    sc, lag = report["schedule_choice"], report["expression_lag"]
    lines.append(f"Schedule picked (lower paced p99): **{sc['mode']}** ("
                 + ", ".join(f"{k} {_ms(v)}" for k, v in sc["paced_p99_ms"].items()) + ").")
    lines.append(f"Expression lag {_ms(lag.get('lag_ms'))}; audio delay printed {report['audio_delay_ms']} ms "
                 "(end-to-end p50 + expression lag; the camera's own latency comes on top).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=HERE, help="folder holding bench.json and README.md")
    a = ap.parse_args(argv)
    report = json.loads((a.dir / "bench.json").read_text())
    (a.dir / "bench.md").write_text(markdown(report))
    readme = a.dir / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} lacks the markers {BEGIN!r} … {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{results_section(report)}\n{END}{tail}")
    print(f"wrote {a.dir / 'bench.md'} and the results in {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
