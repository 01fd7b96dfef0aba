"""The CPU path after the provider work: is a CPU decode as fast as before?

Times the onnxruntime backend (``load_backend("onnxruntime")``, provider chosen by "auto": the CPU
here) against the code path it had before providers existed (``cpu_session`` + ``to_bgra_uint8``,
what ``OnnxRuntimeBackend._infer`` ran; the backend's ``run`` adds the input checks it always had),
alternating call by call so machine load hits both alike, on
the embedded default target's decoder (256²). Also times the live expression encoder on the CPU.
Writes the markdown table to stdout.

    nice -n 10 python benchmarks/engines/ort_provider_cpu_check.py > benchmarks/engines/results/ort_provider_cpu_check.md
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort

from latentcam.engines import BackendOptions, DecoderModel, load_backend
from latentcam.engines.postprocess import to_bgra_uint8
from latentcam.latent.onnx_session import cpu_session
from latentcam.realtime.bench import machine_line

ASSETS = Path(__file__).resolve().parents[2] / "latentcam" / "assets" / "default_target"
ROUNDS, PER_ROUND, THREADS = 20, 30, 2


def main() -> None:
    load_before = os.getloadavg()
    model = DecoderModel.from_onnx(ASSETS / "decoder.onnx")
    backend = load_backend("onnxruntime", model, BackendOptions(threads=THREADS, verbose=False))
    before = cpu_session(model.onnx_path.read_bytes(), THREADS)
    codes = np.random.default_rng(3).standard_normal((PER_ROUND, 1, model.code_dim)).astype(np.float32)

    def old(code):
        return to_bgra_uint8(before.run([model.output_name], {model.input_name: code})[0], inplace=True)

    times = {"backend": [], "before": []}
    for _ in range(3):
        old(codes[0]), backend.run(codes[0])
    for r in range(ROUNDS):
        order = (("backend", backend.run), ("before", old))[:: 1 if r % 2 == 0 else -1]
        for c in codes:                      # alternate call by call: load hits both alike
            for name, fn in order:
                t0 = time.perf_counter()
                fn(c)
                times[name].append((time.perf_counter() - t0) * 1e3)

    enc = cpu_session(ASSETS / "encoder.onnx", 1)
    inp = enc.get_inputs()[0]
    x = np.random.default_rng(4).standard_normal((1, int(inp.shape[-1]))).astype(np.float32)
    out = [enc.get_outputs()[0].name]
    enc_ms = []
    for _ in range(300):
        t0 = time.perf_counter()
        enc.run(out, {inp.name: x})
        enc_ms.append((time.perf_counter() - t0) * 1e3)
    load_after = os.getloadavg()

    print(f"# onnxruntime engine on the CPU provider after the provider work\n")
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine_line()} "
          f"(shared), ONNX Runtime {ort.__version__}, provider used: {backend.provider} "
          f"({backend.device}); load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"run under nice. {ROUNDS * PER_ROUND} decodes each, alternating call by call.\n")
    print("| path | p50 ms | p90 ms | mean ms |\n|---|---|---|---|")
    for name, label in (("backend", "`load_backend(\"onnxruntime\")` (provider auto → CPU)"),
                        ("before", "before providers: `cpu_session` + `to_bgra_uint8`")):
        t = np.array(times[name])
        print(f"| {label} | {np.percentile(t, 50):.2f} | {np.percentile(t, 90):.2f} | {t.mean():.2f} |")
    e = np.array(enc_ms)
    print(f"| live expression encoder (`encoder.onnx`, 1 thread, CPU) | {np.percentile(e, 50):.3f} | "
          f"{np.percentile(e, 90):.3f} | {e.mean():.3f} |")
    backend.close()


if __name__ == "__main__":
    main()
