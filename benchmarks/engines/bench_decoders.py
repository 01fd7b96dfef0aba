"""Decoder latency per backend, preset and resolution (batch 1): p50/p99 of ``backend.run``.

    .venv/bin/python benchmarks/engines/bench_decoders.py [--backends onnxruntime,torch]
        [--presets cpu,gpu] [--sizes 256,512] [--threads 2] [--seconds 8] [--out DIR]

Writes ``decoders-<host>-<date>.json`` and ``.md`` (machine, versions, date) into ``--out``.
The decoders are the project's ``latent.decoder.Decoder`` at each preset with a
variance-preserving random init (latency does not depend on the weights' values). ``run`` times
the whole call the live pipeline makes: code in, (S, S, 4) uint8 BGRA out, host to host.
GPU backends also report ``last_gpu_ms`` (CUDA events around the engine/graph only).
Also times ONNX Runtime variants side by side (post-processing in the graph vs NumPy, intra-op
spinning on vs off) to justify the defaults.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from latentcam.realtime.bench import cpu_name


def _decoder(preset: str, size: int, seed: int = 0):
    import torch

    from latentcam.latent.decoder import Decoder
    from latentcam.latent.presets import get_preset

    gen = torch.Generator().manual_seed(seed)
    dec = Decoder(get_preset(preset, size=size).decoder).eval()
    with torch.no_grad():
        for m in dec.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / (1.04 * m.weight[0].numel())) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return dec


def _measure(backend, seconds: float, max_runs: int = 500, min_runs: int = 10) -> dict:
    rng = np.random.default_rng(0)
    z = backend.model.code_dim
    wall, gpu = [], []
    t_end = time.perf_counter() + seconds
    while len(wall) < max_runs and (len(wall) < min_runs or time.perf_counter() < t_end):
        code = rng.standard_normal((1, z)).astype(np.float32)
        t0 = time.perf_counter()
        backend.run(code)
        wall.append((time.perf_counter() - t0) * 1e3)
        if backend.last_gpu_ms is not None:
            gpu.append(backend.last_gpu_ms)
    out = {"runs": len(wall), "p50_ms": float(np.percentile(wall, 50)), "p99_ms": float(np.percentile(wall, 99)),
           "mean_ms": float(np.mean(wall))}
    if gpu:
        out.update(gpu_p50_ms=float(np.percentile(gpu, 50)), gpu_p99_ms=float(np.percentile(gpu, 99)))
    return out


def _versions() -> dict:
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for pkg in ("numpy", "onnxruntime", "onnx", "torch", "tensorrt", "tensorrt-rtx", "cuda-python"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return v


def _machine() -> dict:
    import os

    info = {"host": socket.gethostname(), "platform": platform.platform(), "cpu": cpu_name(),
            "logical_cpus": os.cpu_count()}
    try:
        info["load_avg_1m"] = os.getloadavg()[0]
    except (AttributeError, OSError):
        pass
    from latentcam.engines.gpu import cuda_devices

    info["gpus"] = [f"{g.name} ({g.sm}, {g.memory_bytes / 2**30:.0f} GiB)" for g in cuda_devices()]
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="onnxruntime,torch,tensorrt,tensorrt-rtx")
    ap.add_argument("--presets", default="cpu,gpu")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0, help="time budget per configuration")
    ap.add_argument("--no-variants", action="store_true", help="skip the ONNX Runtime variant comparison")
    ap.add_argument("--variant-rounds", type=int, default=200, help="interleaved rounds per variant")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)

    from latentcam.engines import BackendOptions, DecoderModel, EngineError, load_backend
    from latentcam.latent.export import export_decoder_onnx

    results, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp) / "cache"
        for preset in args.presets.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                dec = _decoder(preset, size)
                params = sum(p.numel() for p in dec.parameters())
                path = export_decoder_onnx(dec, Path(tmp) / f"{preset}-{size}.onnx")
                model = DecoderModel.from_onnx(path, name=f"{preset}-{size}", torch_factory=lambda d=dec: d)
                for name in args.backends.split(","):
                    opts = BackendOptions(threads=args.threads, cache_dir=cache_dir, fallback=False, verbose=False)
                    try:
                        t0 = time.perf_counter()
                        backend = load_backend(name, model, opts)
                        load_s = time.perf_counter() - t0
                    except (EngineError, ValueError) as exc:
                        skipped.append({"backend": name, "preset": preset, "size": size, "reason": str(exc)})
                        print(f"skip {name} {preset} {size}: {str(exc).splitlines()[0]}", file=sys.stderr)
                        continue
                    with backend:
                        row = {"backend": name, "preset": preset, "size": size, "params_m": round(params / 1e6, 2),
                               "precision": backend.precision, "device": backend.device,
                               "load_s": round(load_s, 2), **_measure(backend, args.seconds)}
                    results.append(row)
                    print(f"{name:<13}{preset:<5}{size:>5}  {row['precision']}  p50 {row['p50_ms']:8.3f}  "
                          f"p99 {row['p99_ms']:8.3f} ms  ({row['runs']} runs)", file=sys.stderr)
        variants = [] if args.no_variants else _ort_variants(Path(tmp), args)
    stamp = dt.datetime.now(dt.timezone.utc)
    report = {"date": stamp.isoformat(timespec="seconds"), "machine": _machine(), "versions": _versions(),
              "threads": args.threads, "batch": 1, "results": results, "ort_variants": variants,
              "skipped": skipped}
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / f"decoders-{report['machine']['host']}-{stamp:%Y%m%d-%H%M}"
    base.with_suffix(".json").write_text(json.dumps(report, indent=2))
    base.with_suffix(".md").write_text(_markdown(report))
    print(f"wrote {base}.json and .md", file=sys.stderr)
    return 0


def _ort_variants(tmp: Path, args) -> list[dict]:
    """ONNX Runtime on the cpu preset at 256²: the backend's defaults vs the alternatives, with
    runs interleaved so that the load of a shared machine hits every variant alike."""
    import onnx

    from latentcam.engines import BackendOptions, DecoderModel
    from latentcam.engines.ort_backend import OnnxRuntimeBackend
    from latentcam.latent.onnx_session import cpu_session
    from latentcam.engines.postprocess import append_uint8_output, to_bgra_uint8
    from latentcam.latent.export import export_decoder_onnx

    path = export_decoder_onnx(_decoder("cpu", 256), tmp / "variants.onnx")
    model = DecoderModel.from_onnx(path)
    feed, out = model.input_name, model.output_name
    default = OnnxRuntimeBackend(model, BackendOptions(threads=args.threads, verbose=False))
    in_graph = cpu_session(append_uint8_output(onnx.load(str(path)), model.size).SerializeToString(),
                           args.threads)
    spinning = cpu_session(path, args.threads, spinning=True)
    variants = {
        "default: NumPy/cv2 uint8 conversion, no spinning": default.run,
        "uint8 conversion appended to the graph": lambda c: in_graph.run(None, {feed: c})[0],
        "intra-op spinning on": lambda c: to_bgra_uint8(spinning.run([out], {feed: c})[0], inplace=True),
    }
    samples = {k: [] for k in variants}
    rng = np.random.default_rng(1)
    items = list(variants.items())
    for i in range(args.variant_rounds + 10):
        code = rng.standard_normal((1, model.code_dim)).astype(np.float32)
        for label, run in (items if i % 2 else items[::-1]):     # alternate the order
            t0 = time.perf_counter()
            run(code)
            if i >= 10:                      # first rounds are warm-up
                samples[label].append((time.perf_counter() - t0) * 1e3)
    default.close()
    base = np.asarray(samples[items[0][0]])
    return [{"variant": k, "p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99)),
             "paired_median_delta_ms": float(np.median(np.asarray(v) - base))}
            for k, v in samples.items()]


def _markdown(r: dict) -> str:
    m, v = r["machine"], r["versions"]
    lines = [f"# Decoder latency, batch 1 — {r['date']}", "",
             f"Machine: {m['host']}, {m['platform']}, {m['logical_cpus']} logical CPUs"
             + (f", load avg {m['load_avg_1m']:.1f}" if "load_avg_1m" in m else "")
             + f"; GPUs: {', '.join(m['gpus']) or 'none'}. CPU threads per backend: {r['threads']}.",
             "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), "",
             "`run` = code in → (S, S, 4) uint8 BGRA on the host (what the live pipeline waits for); "
             "GPU columns: CUDA events around the engine / graph only.", "",
             *([f"**Shared machine under load** (1-minute load average {m['load_avg_1m']:.1f} on "
                f"{m['logical_cpus']} CPUs while measuring): CPU numbers are upper bounds, compare rows "
                "only within this run.", ""]
               if m.get("load_avg_1m", 0) > (m.get("logical_cpus") or 1) else []),
             "| backend | preset | size | params (M) | precision | device | p50 ms | p99 ms | GPU p50 ms | runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["results"]:
        gpu = f"{x['gpu_p50_ms']:.3f}" if "gpu_p50_ms" in x else "–"
        lines.append(f"| {x['backend']} | {x['preset']} | {x['size']}² | {x['params_m']} | {x['precision']} | "
                     f"{x['device']} | {x['p50_ms']:.3f} | {x['p99_ms']:.3f} | {gpu} | {x['runs']} |")
    if r["ort_variants"]:
        lines += ["", "ONNX Runtime variants (cpu preset, 256², runs interleaved in alternating order; "
                  "Δ = median of per-round differences from the default, robust to the machine's load):", "",
                  "| variant | p50 ms | p99 ms | paired Δ ms |", "|---|---|---|---|"]
        lines += [f"| {x['variant']} | {x['p50_ms']:.3f} | {x['p99_ms']:.3f} | {x['paired_median_delta_ms']:+.3f} |"
                  for x in r["ort_variants"]]
    if r["skipped"]:
        lines += ["", "Not run here:", ""]
        seen = set()
        for s in r["skipped"]:
            if s["backend"] not in seen:
                seen.add(s["backend"])
                lines.append(f"- {s['backend']}: {s['reason'].splitlines()[0]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
