"""Building TensorRT / TensorRT-RTX engines from the decoder's ONNX (no GPU needed for RTX AOT).

Shared by the runtime backends (build for the local GPU on a cache miss) and by
``latentcam build-engine`` (ahead-of-time TensorRT-RTX builds for chosen architectures).
Networks are always strongly typed: precision comes from the ONNX types (see ``export.py``).
TensorRT-RTX builds never get a timing cache — it has no effect on RTX engines and forces a GPU
query, which breaks GPU-less builds.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import BackendUnavailable, EngineBuildError
from .model import DecoderModel

#: Backend name → Python module, and how users install it.
TRT_MODULES = {"tensorrt": "tensorrt", "tensorrt-rtx": "tensorrt_rtx"}
INSTALL_HINTS = {
    "tensorrt": ("full TensorRT is not installed; it comes from NVIDIA's index: "
                 "pip install --extra-index-url https://pypi.nvidia.com tensorrt cuda-python"),
    "tensorrt-rtx": 'TensorRT-RTX is not installed: pip install "latentcam[tensorrt-rtx]"',
}
#: Architectures TensorRT-RTX builds for (ComputeCapability enum names). Not Hopper (sm_90) or
#: data-centre Blackwell (sm_100): TensorRT-RTX targets consumer/workstation RTX GPUs.
RTX_ARCHS = {"sm_75": "SM75", "sm_80": "SM80", "sm_86": "SM86", "sm_89": "SM89",
             "sm_120": "SM120", "sm_121": "SM121"}
#: Turing has no FP32 GEMM kernels in TensorRT-RTX: engines for it must be FP16.
FP16_ONLY_ARCHS = {"sm_75"}


def import_trt(backend: str):
    """The TensorRT module for ``backend`` or ``BackendUnavailable`` with the install command."""
    try:
        return importlib.import_module(TRT_MODULES[backend])
    except ImportError:
        raise BackendUnavailable(INSTALL_HINTS[backend]) from None


def parse_archs(text: str) -> list[str]:
    """``"sm_86,89,sm_120"`` → ``["sm_86", "sm_89", "sm_120"]`` (validated for TensorRT-RTX)."""
    archs = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        arch = part if part.startswith("sm_") else f"sm_{part.replace('.', '')}"
        if arch not in RTX_ARCHS:
            hint = (" (Hopper/data-centre GPUs are not supported by TensorRT-RTX: use --engine tensorrt "
                    "on that machine)" if arch in ("sm_90", "sm_100", "sm_103") else "")
            raise ValueError(f"unknown TensorRT-RTX architecture {part!r}{hint}; "
                             f"choose from {', '.join(RTX_ARCHS)}")
        if arch not in archs:
            archs.append(arch)
    if not archs:
        raise ValueError("no architecture given: e.g. --arch sm_86,sm_89")
    return archs


def engine_onnx(model: DecoderModel, precision: str, work_dir: Path) -> tuple[bytes, Path]:
    """The graph an engine is built from: the decoder at ``precision`` with the uint8 BGRA output
    appended. fp32 uses the model's own ONNX; fp16 is exported from torch (typed graph) once and
    kept in ``work_dir``. Returns the graph bytes and the path of the source ONNX."""
    try:
        import onnx
    except ImportError:
        raise BackendUnavailable("building an engine needs the onnx package: pip install onnx") from None
    from .postprocess import append_uint8_output

    if precision == "fp32":
        source = model.onnx_path
    elif precision == "fp16":
        source = Path(work_dir) / f"{model.sha256[:16]}-decoder-fp16.onnx"
        if not source.is_file():
            source = export_fp16(model, source)
    else:
        raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
    graph = append_uint8_output(onnx.load(str(source)), model.size)
    return graph.SerializeToString(), source


def export_fp16(model: DecoderModel, path: Path) -> Path:
    if model.torch_factory is None:
        raise BackendUnavailable(f"an fp16 engine needs the torch decoder of {model.name} to export a "
                                 "typed fp16 graph; load the target bundle, or build fp32")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BackendUnavailable('exporting the fp16 graph needs torch: pip install "latentcam[torch]", '
                                 "or ship engines built with `latentcam build-engine`") from None
    from .export import ExportOptions, export_decoder

    export_decoder(model.torch_factory(), model.code_dim, path, ExportOptions(precision="fp16"))
    return path


@dataclass(frozen=True)
class BuiltEngine:
    data: bytes
    archs: tuple[str, ...]      # () = the local GPU
    precision: str
    seconds: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def build_engine(trt, onnx_bytes: bytes, *, archs: list[str] | None, rtx: bool,
                 precision: str, workspace_bytes: int | None = None) -> BuiltEngine:
    """Parse the ONNX into a strongly typed network and build a serialised engine.

    ``archs`` (TensorRT-RTX only) selects ahead-of-time targets via
    ``IBuilderConfig.set_compute_capability``; None builds for the local GPU.
    """
    import time

    t0 = time.perf_counter()
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EngineBuildError(f"the {trt.__name__} ONNX parser rejected the decoder: {errors}")
    config = builder.create_builder_config()
    if workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if archs:
        if not rtx:
            raise EngineBuildError("ahead-of-time architecture selection is a TensorRT-RTX feature; "
                                   "full TensorRT builds for the local GPU only")
        config.num_compute_capabilities = len(archs)
        for i, arch in enumerate(archs):
            if not config.set_compute_capability(getattr(trt.ComputeCapability, RTX_ARCHS[arch]), i):
                raise EngineBuildError(f"{trt.__name__} refused compute capability {arch}")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"{trt.__name__} could not build the {precision} engine for "
                               f"{', '.join(archs) if archs else 'the local GPU'} (see the log above)")
    return BuiltEngine(bytes(serialized), tuple(archs or ()), precision, time.perf_counter() - t0)


def header_problem(trt, data: bytes) -> str | None:
    """Why the runtime would reject this engine, from its header (TensorRT-RTX
    ``getEngineValidity``); None when it is usable or when the check is unavailable (full
    TensorRT). SUBOPTIMAL engines run (maybe slower): they are used, not rebuilt at every start."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.INTERNAL_ERROR))
    check = getattr(runtime, "get_engine_validity", None)
    if check is None:
        return None
    validity, diagnostics = check(data)
    if validity == trt.EngineValidity.VALID:
        return None
    if validity == trt.EngineValidity.SUBOPTIMAL:
        logging.getLogger("latentcam.engines").info("engine header says SUBOPTIMAL (diagnostics %s)",
                                                    int(diagnostics))
        return None
    flags = [name for name, bit in trt.EngineInvalidityDiagnostics.__members__.items()
             if int(diagnostics) & int(bit)]
    return f"{trt.__name__} reports the engine {validity.name.lower()} ({', '.join(flags) or 'no details'})"
