"""Decoder cost per preset and resolution: parameters, GFLOPs, ONNX Runtime CPU ms/frame.

    .venv/bin/python benchmarks/latent/decoder_cost.py [--threads 2] [--runs 50]

Writes ``decoder_cost.json`` and ``decoder_cost.md`` next to this script. GFLOPs are counted
analytically (2 × multiply-accumulates of every Conv2d/Linear; activations, upsampling and
pixel shuffle ignored). The ONNX files are written as in a target bundle (fp16-stored
weights, float32 compute). Timings: randomly initialised weights (cost does not depend on them),
ONNX Runtime CPU execution provider, batch 1, after warm-up; each configuration timed in its
own blocks of runs, the blocks of all configurations taken in turn (``--rounds``), so that
every configuration sees the same background load on a shared machine. The median and the
90th percentile are reported, and the minimum (the closest to the cost on an idle machine).
Decoders: *plain* (conv only), *warp* (one texture moved by a field: ``latent/decoder.py``) and
*composed* (region trunks + exemplar textures: ``latent/composed_decoder.py``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from latentcam.realtime.bench import cpu_name

HERE = Path(__file__).resolve().parent


def flops(decoder) -> float:
    import torch
    from torch import nn

    total = 0.0

    def conv_hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += 2.0 * out.numel() * k

    def lin_hook(m, inp, out):
        nonlocal total
        total += 2.0 * m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in decoder.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(lin_hook) for m in decoder.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        decoder(torch.zeros(1, decoder.config.code_size))
    for h in hooks:
        h.remove()
    return total / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50, help="timed runs per configuration")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per configuration, taken in turn")
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--note", default="",
                    help="anything else to say about the machine (its load is measured and written)")
    a = ap.parse_args()

    import onnxruntime as ort
    import torch

    from latentcam.latent.decoder import build_decoder
    from latentcam.latent.export import (export_decoder_onnx, round_parameters_to_fp16,
                                         store_initializers_as_fp16)
    from latentcam.latent.onnx_session import cpu_session
    from latentcam.realtime.bench import load_state
    from latentcam.latent.presets import PRESETS, get_preset

    torch.manual_seed(0)
    configs = []
    sizes = [int(s) for s in a.sizes.split(",")]
    for name, kind, size in itertools.product(PRESETS, ("plain", "warp", "composed"), sizes):
        preset = get_preset(name, size=size, warp=kind != "plain", composed=kind == "composed")
        dec = round_parameters_to_fp16(build_decoder(preset.decoder).eval())
        buf = Path(tempfile.gettempdir()) / f"_decoder_cost_{name}_{size}_{kind}.onnx"
        store_initializers_as_fp16(export_decoder_onnx(dec, buf))     # as in a target bundle
        sess = cpu_session(buf, a.threads, spinning=True)   # ONNX Runtime's default spinning, as measured
        z = np.random.default_rng(0).normal(size=(1, dec.config.code_size)).astype(np.float32)
        for _ in range(5):
            sess.run(None, {"z": z})
        configs.append({"preset": name, "decoder": kind, "size": size, "sess": sess, "z": z, "times": [],
                        "params_m": sum(p.numel() for p in dec.parameters()) / 1e6,
                        "gflops": flops(dec), "onnx_mb": buf.stat().st_size / 1e6})
        buf.unlink()
    # Blocks of consecutive runs per configuration (as live use runs one decoder): interleaving
    # every run with the 44 MB gpu-preset models evicted the small model's weights from cache
    # and doubled its time. The rounds spread each configuration over the whole measurement.
    per_block = max(1, a.runs // a.rounds)
    for _ in range(a.rounds):
        for c in configs:
            for _ in range(3):
                c["sess"].run(None, {"z": c["z"]})
            for _ in range(per_block):
                t = time.perf_counter()
                c["sess"].run(None, {"z": c["z"]})
                c["times"].append((time.perf_counter() - t) * 1000)
    rows = []
    for c in configs:
        t = np.array(c["times"])
        rows.append({"preset": c["preset"], "decoder": c["decoder"], "size": c["size"], "params_m": round(c["params_m"], 3),
                     "gflops": round(c["gflops"], 3), "onnx_mb": round(c["onnx_mb"], 2),
                     "ms_min": round(float(t.min()), 2), "ms_median": round(float(np.median(t)), 2),
                     "ms_p90": round(float(np.percentile(t, 90)), 2)})
    load = os.getloadavg()
    result = {"threads": a.threads, "runs": per_block * a.rounds, "rounds": a.rounds,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__,
              "onnxruntime": ort.__version__,
              "cpu": cpu_name(), "cores": os.cpu_count(),
              "load_average_1_5_15": [round(x, 2) for x in load],
              "note": a.note,
              "machine_state": load_state([list(load)], os.cpu_count()),
              "rows": rows}
    (HERE / "decoder_cost.json").write_text(json.dumps(result, indent=1))
    md = ["# Decoder cost per preset and resolution", "",
          f"ONNX Runtime {ort.__version__} CPU, {a.threads} threads, batch 1, median / p90 of "
          f"{per_block * a.rounds} runs per configuration ({a.rounds} blocks, taken in turn with the "
          f"other configurations'). Machine: {os.cpu_count()} CPU cores "
          f"({result['cpu']}){', ' + a.note if a.note else ''}, {result['machine_state']} (after the run); "
          f"{result['date']}. Budget for the `cpu` preset: 256² in ≤ 10 ms. "
          "*warp* = one texture + displacement field (`latent/decoder.py`); *composed* = upper/lower "
          "region trunks + 5 exemplar textures mixed by predicted weights and warped once "
          "(`latent/composed_decoder.py`); textures add 3·S² parameters each, and sampling and "
          "mixing are not counted in GFLOPs. Not measured on a GPU (none here).", "",
          "| preset | decoder | size | params (M) | GFLOPs | ONNX MB | ms min | ms median | ms p90 |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['preset']} | {r['decoder']} | {r['size']}² | {r['params_m']:.2f} | {r['gflops']:.2f} | "
                  f"{r['onnx_mb']:.1f} | {r['ms_min']:.1f} | {r['ms_median']:.1f} | {r['ms_p90']:.1f} |")
    (HERE / "decoder_cost.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
