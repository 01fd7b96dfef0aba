"""The one way latentcam opens an ONNX Runtime session: on the CPU, or on an accelerator's
execution provider.

Explicit thread counts (ONNX Runtime's default takes every core), sequential execution, every
graph optimisation. Spinning is off by default: in the live pipeline the encoder and decoder share
a few cores with MediaPipe and the compositor, and spinning intra-op threads would burn the time
those stages need (``benchmarks/engines`` measures both). Used by the live encoder, the ONNX
Runtime decoder backend, the export checks, evaluation and the benchmarks. No torch.

Execution providers (``PROVIDERS``, most preferred first) come from the ONNX Runtime package the
user installed — ``onnxruntime`` (CPU; Core ML on macOS), ``onnxruntime-gpu`` (CUDA, TensorRT),
``onnxruntime-directml``, ``onnxruntime-openvino``, AMD's ROCm/MIGraphX builds — and only one of
them can be installed at a time (they all install the ``onnxruntime`` module).
``provider_session`` opens a session on one and checks that ONNX Runtime really uses it: ORT drops
a provider that fails to initialise with nothing but a Python warning and runs on the CPU.
Whether an accelerated provider computes the right numbers is the caller's check
(``engines.ort_backend`` compares it with a CPU session on warm-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


def session_options(threads: int, spinning: bool = False):
    """``onnxruntime.SessionOptions`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return opts


def cpu_session(model: Path | str | bytes, threads: int = 1, *, spinning: bool = False):
    """An ``onnxruntime.InferenceSession`` on the CPU provider for a model file or its bytes."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(threads, spinning),
                                providers=["CPUExecutionProvider"])


# --- execution providers ------------------------------------------------------------------------
@dataclass(frozen=True)
class Provider:
    key: str          # what users type (--ort-provider, engine.ort_provider)
    ort_name: str     # ONNX Runtime's name
    hardware: str     # what it runs on
    package: str      # the ONNX Runtime package that brings it (pyproject extras name them)
    own_package: bool = True   # that package replaces the default onnxruntime (not so for Core ML)
    caches: bool = False       # compiles the model and can keep the result (provider_setup's cache_dir)

    @property
    def is_cpu(self) -> bool:
        return self.ort_name == CPU


CPU = "CPUExecutionProvider"

#: Most preferred first: ``auto`` takes the first one the installed ONNX Runtime offers.
#: TensorRT before CUDA (it builds a fused engine; onnxruntime-gpu offers both when the TensorRT
#: libraries are present); MIGraphX before ROCm (ONNX Runtime replaced ROCm with MIGraphX in 1.23).
PROVIDERS: tuple[Provider, ...] = (
    Provider("tensorrt", "TensorrtExecutionProvider", "NVIDIA GPUs through TensorRT",
             "onnxruntime-gpu with NVIDIA's TensorRT libraries", caches=True),
    Provider("cuda", "CUDAExecutionProvider", "NVIDIA GPUs through CUDA and cuDNN", "onnxruntime-gpu"),
    Provider("migraphx", "MIGraphXExecutionProvider", "AMD GPUs on Linux through MIGraphX",
             "AMD's ROCm build of ONNX Runtime (onnxruntime-migraphx)"),
    Provider("rocm", "ROCMExecutionProvider", "AMD GPUs on Linux through ROCm, ONNX Runtime before 1.23",
             "AMD's ROCm build of ONNX Runtime (onnxruntime-rocm)"),
    Provider("directml", "DmlExecutionProvider", "DirectX 12 GPUs on Windows: AMD, Intel, NVIDIA",
             "onnxruntime-directml"),
    Provider("coreml", "CoreMLExecutionProvider", "Apple Silicon: Neural Engine and GPU",
             "the standard onnxruntime wheel on macOS", own_package=False, caches=True),
    Provider("openvino", "OpenVINOExecutionProvider", "Intel GPUs through OpenVINO", "onnxruntime-openvino",
             caches=True),
    Provider("cpu", CPU, "any CPU", "onnxruntime", own_package=False),
)
PROVIDER_KEYS: tuple[str, ...] = ("auto", *(p.key for p in PROVIDERS))
#: Every ONNX Runtime package installs the same ``onnxruntime`` module: swap, never add.
INSTALL_HINT = (" (ONNX Runtime packages replace each other: pip uninstall onnxruntime, then install "
                "that one; README, \"ONNX Runtime execution providers\")")


class ProviderInactive(RuntimeError):
    """ONNX Runtime created the session but dropped the requested provider (it runs on the CPU)."""


def provider(key_or_ort_name: str) -> Provider:
    """The provider called ``key_or_ort_name`` (``"cuda"`` or ``"CUDAExecutionProvider"``)."""
    for p in PROVIDERS:
        if key_or_ort_name in (p.key, p.ort_name):
            return p
    raise ValueError(f"unknown ONNX Runtime provider {key_or_ort_name!r}; choose one of "
                     f"{', '.join(PROVIDER_KEYS)}")


def available_providers() -> list[str]:
    """The execution providers the installed ONNX Runtime offers (ONNX Runtime's names, its order)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def provider_candidates(requested: str, available: Sequence[str]) -> tuple[list[Provider], str | None]:
    """The providers to try for ``requested`` ("auto", a key or an ORT name), in order, the CPU
    last; and why the request could not be honoured (None when it can be tried).

    ``auto``: every provider of ``PROVIDERS`` the installed ONNX Runtime offers, in that order
    (providers latentcam does not know, such as Azure, are never used). A named provider: it, then
    the CPU; not offered, only the CPU, with a reason naming the package that brings it."""
    cpu = provider(CPU)
    if requested == "auto":
        return [p for p in PROVIDERS if p.is_cpu or p.ort_name in available], None
    wanted = provider(requested)
    if wanted.is_cpu or wanted.ort_name in available:
        return list(dict.fromkeys([wanted, cpu])), None
    offered = ", ".join(provider(n).key for n in available if n in {p.ort_name for p in PROVIDERS})
    return [cpu], (f"not offered by the installed ONNX Runtime, which offers: {offered}; "
                   f"{wanted.key} ({wanted.hardware}) comes with {wanted.package}"
                   f"{INSTALL_HINT if wanted.own_package else ''}")


#: The ONNX Runtime packages latentcam names; each installs the ``onnxruntime`` module.
ORT_PACKAGES = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
                "onnxruntime-migraphx", "onnxruntime-rocm")


def installed_ort_packages() -> list[tuple[str, str]]:
    """(distribution, version) of every ONNX Runtime package installed; more than one collide."""
    import importlib.metadata

    found = []
    for dist in ORT_PACKAGES:
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class ProviderSetup:
    """How a session is opened on one provider: ``providers`` for ``InferenceSession`` (the chosen
    one first, CPU behind it for the nodes it cannot take), the ``precision`` it computes in
    ("fp16" where it may round to half precision, else "fp32"), and a short ``device`` label."""

    providers: list
    precision: str
    device: str
    mem_pattern: bool = True


def provider_setup(chosen: Provider, *, device_index: int = 0, fp16: bool = False,
                   cache_dir: Path | None = None) -> ProviderSetup:
    """Provider options per provider. ``fp16`` lets providers that can compute in half precision
    do so (TensorRT, MIGraphX, Core ML on the Neural Engine, OpenVINO on a GPU); the others run the
    fp32 graph as it is (CUDA with TF32 off, so fp32 means fp32). ``cache_dir`` keeps what
    TensorRT, Core ML and OpenVINO compile, so the second start is fast."""
    cache = str(cache_dir) if cache_dir is not None else None
    key = chosen.key
    if key == "cpu":
        return ProviderSetup([CPU], "fp32", "cpu")
    if key in ("tensorrt", "cuda"):
        cuda = ("CUDAExecutionProvider", {"device_id": device_index, "use_tf32": 0})
        if key == "cuda":
            return ProviderSetup([cuda, CPU], "fp32", f"cuda:{device_index}")
        trt = {"device_id": device_index, "trt_fp16_enable": fp16}
        if cache:
            trt.update(trt_engine_cache_enable=True, trt_engine_cache_path=cache,
                       trt_timing_cache_enable=True, trt_timing_cache_path=cache)
        return ProviderSetup([(chosen.ort_name, trt), cuda, CPU], "fp16" if fp16 else "fp32",
                             f"tensorrt:{device_index}")
    if key == "migraphx":
        options = {"device_id": device_index, "migraphx_fp16_enable": int(fp16)}
        return ProviderSetup([(chosen.ort_name, options), CPU], "fp16" if fp16 else "fp32",
                             f"migraphx:{device_index}")
    if key == "rocm":
        return ProviderSetup([(chosen.ort_name, {"device_id": device_index}), CPU], "fp32",
                             f"rocm:{device_index}")
    if key == "directml":
        # DirectML needs sequential execution (session_options already) and no memory pattern.
        return ProviderSetup([(chosen.ort_name, {"device_id": device_index}), CPU], "fp32",
                             f"directml:{device_index}", mem_pattern=False)
    if key == "coreml":
        # The Neural Engine computes in fp16; "CPUAndGPU" keeps fp32 (the GPU accumulates in fp32
        # unless AllowLowPrecisionAccumulationOnGPU is set).
        units = "ALL" if fp16 else "CPUAndGPU"
        options = {"ModelFormat": "MLProgram", "MLComputeUnits": units}
        if cache:
            options["ModelCacheDirectory"] = cache
        return ProviderSetup([(chosen.ort_name, options), CPU], "fp16" if fp16 else "fp32",
                             f"coreml ({units})")
    if key == "openvino":
        device = "GPU" if device_index == 0 else f"GPU.{device_index}"
        options = {"device_type": device, "precision": "FP16" if fp16 else "ACCURACY"}
        if cache:
            options["cache_dir"] = cache
        return ProviderSetup([(chosen.ort_name, options), CPU], "fp16" if fp16 else "fp32",
                             f"openvino ({device})")
    raise ValueError(f"no setup for provider {key!r}")   # PROVIDERS and this function disagree


def provider_session(model: Path | str | bytes, setup: ProviderSetup, threads: int = 1, *,
                     spinning: bool = False):
    """An ``InferenceSession`` on ``setup``'s first provider; ``ProviderInactive`` when ONNX Runtime
    dropped it (which it does with only a warning when the provider cannot initialise)."""
    import warnings

    import onnxruntime as ort

    wanted = setup.providers[0] if isinstance(setup.providers[0], str) else setup.providers[0][0]
    if wanted == CPU:
        return cpu_session(model, threads, spinning=spinning)
    opts = session_options(threads, spinning)
    opts.enable_mem_pattern = setup.mem_pattern
    source = model if isinstance(model, bytes) else str(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = ort.InferenceSession(source, opts, providers=setup.providers)
    active = session.get_providers()
    if not active or active[0] != wanted:
        said = "; ".join(str(w.message) for w in caught)
        raise ProviderInactive(f"ONNX Runtime did not activate {wanted} (it runs on "
                               f"{', '.join(active) or 'nothing'})" + (f": {said}" if said else ""))
    return session


__all__ = ["CPU", "PROVIDERS", "PROVIDER_KEYS", "Provider", "ProviderInactive", "ProviderSetup",
           "INSTALL_HINT", "ORT_PACKAGES", "available_providers",
           "installed_ort_packages", "provider_candidates", "cpu_session", "provider", "provider_session",
           "provider_setup", "session_options"]
