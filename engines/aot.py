"""Ahead-of-time engine builds (``latentcam build-engine``): one engine per GPU architecture plus a
JSON record, written beside the target bundle so engines can be shipped with it."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import BackendUnavailable
from .model import DecoderModel
from .tensorrt_backend import PREBUILT_RECORD
from .tensorrt_build import FP16_ONLY_ARCHS, build_engine, engine_onnx, import_trt


@dataclass(frozen=True)
class BuildOptions:
    engine: str = "tensorrt-rtx"          # "tensorrt-rtx" (any archs, no GPU needed) or "tensorrt"
    archs: tuple[str, ...] = ("sm_86", "sm_89")
    precision: str = "fp16"               # fp16 or fp32 (sm_75 is always fp16)


def build_engines(model: DecoderModel, out_dir: Path, options: BuildOptions = BuildOptions()) -> dict:
    """Build the engines, write them and ``engines.json`` into ``out_dir``; return the record."""
    if options.precision not in ("fp16", "fp32"):
        raise ValueError(f"precision must be fp16 or fp32, got {options.precision!r}")
    trt = import_trt(options.engine)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    version = trt.__version__
    records = []
    if options.engine == "tensorrt":
        from .gpu import cuda_devices

        gpus = cuda_devices()
        if not gpus:
            raise BackendUnavailable("--engine tensorrt builds for the local GPU and there is none here; "
                                     "use --engine tensorrt-rtx --arch ... for GPU-less builds")
        targets = [(gpus[0].sm, None)]
    else:
        targets = [(arch, [arch]) for arch in options.archs]
    onnx_cache: dict[str, tuple[bytes, Path]] = {}
    for arch, build_archs in targets:
        precision = options.precision
        note = ""
        if options.engine == "tensorrt-rtx" and arch in FP16_ONLY_ARCHS and precision == "fp32":
            precision, note = "fp16", "fp16 forced: Turing has no FP32 GEMM in TensorRT-RTX"
        if precision not in onnx_cache:
            onnx_cache[precision] = engine_onnx(model, precision, out_dir)
        onnx_bytes, source = onnx_cache[precision]
        built = build_engine(trt, onnx_bytes, archs=build_archs, rtx=options.engine == "tensorrt-rtx",
                             precision=precision)
        name = f"{model.name}-decoder-{precision}-{arch}-{options.engine}-{version}.engine"
        (out_dir / name).write_bytes(built.data)
        records.append({"file": name, "archs": [arch], "precision": precision, "bytes": len(built.data),
                        "sha256": built.sha256, "build_seconds": round(built.seconds, 3),
                        "onnx": source.name, "note": note})
    record = {
        "model": model.name, "model_sha256": model.sha256, "code_dim": model.code_dim,
        "size": model.size, "backend": options.engine, "backend_version": version,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "built_on": f"{platform.node()} ({platform.system()} {platform.machine()})",
        "engines": records,
    }
    (out_dir / PREBUILT_RECORD).write_text(json.dumps(record, indent=2))
    return record
