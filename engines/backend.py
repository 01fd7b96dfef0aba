"""The registry of decoder backends and the loader with fallback / auto (the interface itself is
``decoder_backend.DecoderBackend``).

``load_backend(name, bundle, options).run(code (1, Z) float32) -> (S, S, 4) uint8 BGRA``.
GPU backends (and the torch CPU fallback) check their output on warm-up against ONNX Runtime on
fixed codes; outside ``WARMUP_TOLERANCE_LEVELS`` the engine is refused and the loader falls back.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcam.latent.onnx_session import PROVIDER_KEYS

from .decoder_backend import BackendOptions, DecoderBackend, say
from .errors import AllBackendsFailed, BackendUnavailable, EngineError
from .model import DecoderModel

log = logging.getLogger("latentcam.engines")

#: Seconds of timed warm runs per backend in ``auto`` (fast backends still get all their runs).
AUTO_BUDGET_S = 1.5

# --- registry ---------------------------------------------------------------------------------
_REGISTRY: dict[str, type[DecoderBackend]] = {}


def register_backend(cls: type[DecoderBackend]) -> type[DecoderBackend]:
    """Add a backend class to the registry under ``cls.name`` (usable as a decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def _ensure_builtin() -> None:
    if _REGISTRY:
        return
    from .ort_backend import OnnxRuntimeBackend
    from .tensorrt_backend import TensorRTBackend, TensorRTRTXBackend
    from .torch_backend import TorchBackend

    for cls in (OnnxRuntimeBackend, TorchBackend, TensorRTBackend, TensorRTRTXBackend):
        register_backend(cls)


def backend_names() -> list[str]:
    _ensure_builtin()
    return list(_REGISTRY)


def backend_class(name: str) -> type[DecoderBackend]:
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown decoder backend {name!r}; choose one of "
                         f"{', '.join(['auto', *_REGISTRY])}") from None


def availability(options: BackendOptions = BackendOptions()) -> dict[str, str | None]:
    """Every registered backend → None (usable here) or the reason it is not."""
    _ensure_builtin()
    return {name: cls.unavailable_reason(options) for name, cls in _REGISTRY.items()}


def default_backend_name(options: BackendOptions = BackendOptions()) -> str:
    """``"auto"`` when any GPU backend can run here, else ``"onnxruntime"`` (the CPU default)."""
    reasons = availability(options)
    gpu_ready = any(reason is None for name, reason in reasons.items() if name not in ("onnxruntime", "torch"))
    if not gpu_ready and reasons.get("torch") is None:
        from .gpu import cuda_devices
        gpu_ready = bool(cuda_devices())
    return "auto" if gpu_ready else "onnxruntime"


# --- loading ----------------------------------------------------------------------------------
def as_decoder_model(source) -> DecoderModel:
    """Accept a ``DecoderModel``, a ``TargetBundle``, a bundle directory or a decoder .onnx file."""
    if isinstance(source, DecoderModel):
        return source
    if isinstance(source, (str, Path)) and Path(source).suffix == ".onnx":
        return DecoderModel.from_onnx(Path(source))
    return DecoderModel.from_bundle(source)


def _open(name: str, model: DecoderModel, options: BackendOptions) -> DecoderBackend:
    cls = backend_class(name)
    reason = cls.unavailable_reason(options)
    if reason is not None:
        raise BackendUnavailable(reason)
    backend = cls(model, options)
    try:
        backend.warm_up()
    except BaseException:
        backend.close()
        raise
    return backend


def _try_open(name: str, model: DecoderModel, options: BackendOptions) -> DecoderBackend | str:
    """The opened backend, or why it failed. GPU stacks raise their own exception types (CUDA
    errors from torch, TensorRT runtime errors): those count as failures of that backend too."""
    try:
        return _open(name, model, options)
    except EngineError as exc:
        return str(exc)
    except (RuntimeError, OSError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"


def load_backend(name: str, bundle, options: BackendOptions = BackendOptions()) -> DecoderBackend:
    """Load, warm up and verify the backend ``name`` ("auto" picks the fastest available).

    On failure, with ``options.fallback``, says why and falls back to ``onnxruntime``; when every
    candidate fails, raises ``AllBackendsFailed`` listing each backend's reason.
    """
    if options.precision not in ("auto", "fp16", "fp32"):
        raise ValueError(f"precision must be auto, fp16 or fp32, got {options.precision!r}")
    if options.threads < 1:
        raise ValueError(f"threads must be >= 1, got {options.threads}")
    if options.ort_provider not in PROVIDER_KEYS:
        raise ValueError(f"ort_provider must be one of {', '.join(PROVIDER_KEYS)}, got {options.ort_provider!r}")
    model = as_decoder_model(bundle)
    if name == "auto":
        return _load_fastest(model, options)
    backend_class(name)   # unknown names fail here, before any fallback
    if not options.fallback or name == "onnxruntime":
        return _open(name, model, options)          # its own error, unwrapped
    reasons: dict[str, str] = {}
    for candidate in (name, "onnxruntime"):
        result = _try_open(candidate, model, options)
        if isinstance(result, str):
            reasons[candidate] = result
            if candidate == name:
                say(options, f"[engines] {name} not used: {result} — falling back to onnxruntime")
            continue
        result.load_notes = (*(f"{n}: {r}" for n, r in reasons.items()), *result.load_notes)
        return result
    raise AllBackendsFailed(reasons)


@dataclass(frozen=True)
class TimingRow:
    backend: str
    precision: str
    device: str
    p50_ms: float | None
    p99_ms: float | None
    note: str = ""


def time_backend(backend: DecoderBackend, runs: int, seed: int = 7,
                 budget_s: float | None = None) -> tuple[float, float]:
    """p50 and p99 wall milliseconds of ``run`` over ``runs`` warm calls (batch 1), stopping
    early (after at least 3 calls) once ``budget_s`` is spent — a slow backend needs few samples
    to lose."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((runs, 1, backend.model.code_dim)).astype(np.float32)
    times: list[float] = []
    start = time.perf_counter()
    for code in codes:
        t0 = time.perf_counter()
        backend.run(code)
        times.append((time.perf_counter() - t0) * 1e3)
        if budget_s is not None and len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def format_table(rows: list[TimingRow]) -> str:
    lines = [f"{'backend':<14}{'precision':<10}{'device':<24}{'p50 ms':>9}{'p99 ms':>9}  note"]
    for r in rows:
        p50 = f"{r.p50_ms:9.3f}" if r.p50_ms is not None else f"{'-':>9}"
        p99 = f"{r.p99_ms:9.3f}" if r.p99_ms is not None else f"{'-':>9}"
        lines.append(f"{r.backend:<14}{r.precision:<10}{r.device[:23]:<24}{p50}{p99}  {r.note}")
    return "\n".join(lines)


def _load_fastest(model: DecoderModel, options: BackendOptions) -> DecoderBackend:
    rows: list[TimingRow] = []
    loaded: list[tuple[float, DecoderBackend]] = []
    reasons: dict[str, str] = {}
    for name in backend_names():
        backend = _try_open(name, model, options)
        if isinstance(backend, str):
            reasons[name] = backend
            rows.append(TimingRow(name, "-", "-", None, None, backend.splitlines()[0][:90]))
            continue
        p50, p99 = time_backend(backend, options.auto_timing_runs, budget_s=AUTO_BUDGET_S)
        rows.append(TimingRow(name, backend.precision, backend.device, p50, p99))
        loaded.append((p50, backend))
    if not loaded:
        raise AllBackendsFailed(reasons)
    loaded.sort(key=lambda item: item[0])
    best = loaded[0][1]
    for _, other in loaded[1:]:
        other.close()
    rows = [r if r.backend != best.name else TimingRow(**{**r.__dict__, "note": "← selected"}) for r in rows]
    table = format_table(rows)
    log.info("auto backend selection:\n%s", table)
    if options.verbose:
        print(table, file=sys.stderr)
    best.load_notes = (*(f"{n}: {r}" for n, r in reasons.items()), *best.load_notes)
    best.selection_table = rows
    return best
