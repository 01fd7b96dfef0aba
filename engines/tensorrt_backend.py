"""``tensorrt`` (full TensorRT) and ``tensorrt-rtx`` (TensorRT for RTX) backends, one implementation.

Engine: a prebuilt one shipped in ``<bundle>/engines`` (``latentcam build-engine``) when it targets
this GPU, else the engine cache, else built here from the ONNX and cached. Run: the input and
output tensors are bound once to device buffers; each call copies the code from pinned host
memory, enqueues ``execute_async_v3`` on a CUDA stream, and copies the uint8 image once into
pinned host memory. CUDA through cuda-python (``cuda.bindings.runtime``); no torch.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from .decoder_backend import BackendOptions, DecoderBackend
from .cache import EngineCache, EngineKey, prebuilt_dir
from .errors import BackendUnavailable, EngineError
from .gpu import GpuInfo, cuda_devices, cudart
from .model import DecoderModel
from .postprocess import UINT8_OUTPUT
from .tensorrt_build import (FP16_ONLY_ARCHS, INSTALL_HINTS, RTX_ARCHS, build_engine, engine_onnx,
                             header_problem, import_trt)

log = logging.getLogger("latentcam.engines")
PREBUILT_RECORD = "engines.json"


class _Cuda:
    """The few CUDA runtime calls we need, each checked; raises ``EngineError`` with the reason."""

    def __init__(self, device_index: int):
        self.rt = cudart()
        if self.rt is None:
            raise BackendUnavailable("cuda-python is not installed: pip install cuda-python")
        self.call("cudaSetDevice", device_index)

    def call(self, fn: str, *args):
        result = getattr(self.rt, fn)(*args)
        err, rest = result[0], result[1:]
        if int(err) != 0:
            _, text = self.rt.cudaGetErrorString(err)
            text = text.decode() if isinstance(text, bytes) else str(text)
            if "memory" in text.lower() and "alloc" in fn.lower() + text.lower():
                raise EngineError(f"out of GPU memory in {fn} ({text}): close other GPU programs, "
                                  "or use a smaller preset")
            raise EngineError(f"CUDA {fn} failed: {text}")
        return rest[0] if len(rest) == 1 else rest


def _host_array(ptr: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_uint8 * n).from_address(int(ptr)), dtype=dtype).reshape(shape)


def find_prebuilt(directory: Path, *, backend: str, version: str, model_sha256: str, sm: str,
                  precision: str, validate) -> tuple[bytes | None, str]:
    """The engine in ``directory`` (written by ``latentcam build-engine``) for this model, backend
    version, GPU architecture and precision: ``(bytes, "")``, or ``(None, why not)``."""
    record_path = Path(directory) / PREBUILT_RECORD
    if not record_path.is_file():
        return None, ""
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        return None, f"{record_path} is unreadable"
    if record.get("model_sha256") != model_sha256:
        return None, f"prebuilt engines in {directory} were built from another decoder"
    if record.get("backend") != backend or record.get("backend_version") != version:
        return None, (f"prebuilt engines in {directory} are for {record.get('backend')} "
                      f"{record.get('backend_version')}, this is {backend} {version}")
    for entry in record.get("engines", []):
        if sm in entry.get("archs", []) and entry.get("precision") == precision:
            path = Path(directory) / Path(entry["file"]).name
            data = path.read_bytes() if path.is_file() else b""
            if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                return None, f"prebuilt engine {path} is missing or corrupt"
            problem = validate(data)
            if problem:
                return None, f"prebuilt engine {path} rejected: {problem}"
            return data, ""
    archs = sorted({a for e in record.get("engines", []) for a in e.get("archs", [])})
    return None, (f"prebuilt {precision} engines in {directory} target {', '.join(archs) or 'nothing'}; "
                  f"this GPU is {sm}")


class _TensorRTBase(DecoderBackend):
    rtx: ClassVar[bool]

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        try:
            import_trt(cls.name)
        except BackendUnavailable as exc:
            return str(exc)
        if cudart() is None:
            return "cuda-python is not installed: pip install cuda-python"
        gpus = cuda_devices()
        if not gpus:
            return "no NVIDIA GPU found (no CUDA device or driver); use --engine onnxruntime"
        if options.device_index >= len(gpus):
            return f"GPU index {options.device_index} does not exist ({len(gpus)} GPU(s) found)"
        return cls.gpu_problem(gpus[options.device_index])

    @classmethod
    def gpu_problem(cls, gpu: GpuInfo) -> str | None:
        return None

    def __init__(self, model: DecoderModel, options: BackendOptions = BackendOptions()):
        super().__init__(model, options)
        reason = self.unavailable_reason(options)
        if reason is not None:
            raise BackendUnavailable(reason)
        self._trt = trt = import_trt(self.name)
        gpu = cuda_devices()[options.device_index]
        self.precision = self._resolve_precision(options.precision, gpu)
        self.device = f"cuda:{gpu.index} {gpu.name} ({gpu.sm})"
        self._cuda = _Cuda(gpu.index)
        self._cache = EngineCache(options.cache_dir)
        self._key = EngineKey(model.sha256, self.name, trt.__version__, gpu.sm, self.precision)
        self._buffers: list[tuple[str, int]] = []
        self._runtime_cache = None
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        data = self._prebuilt(gpu)
        engine = self._runtime.deserialize_cuda_engine(data) if data is not None else None
        if engine is None:
            # A stale, foreign or corrupt cached engine is deleted with a warning and rebuilt.
            engine, built = self._cache.open(
                self._key, self._build, self._runtime.deserialize_cuda_engine,
                validate=lambda b: header_problem(trt, b),
                keep_targets={g.sm for g in cuda_devices()})
            if built:
                log.info("built %s %s engine for %s", self.name, self.precision, gpu.sm)
        if engine is None:
            raise EngineError(f"{self.name} could not load a freshly built engine on {gpu.name} "
                              f"({gpu.sm}): out of GPU memory, or a driver too old for "
                              f"{self.name} {trt.__version__}. Close other GPU programs or update "
                              "the NVIDIA driver.")
        self._engine = engine
        self._open_engine(gpu)

    def _resolve_precision(self, requested: str, gpu: GpuInfo) -> str:
        precision = "fp16" if requested == "auto" else requested
        if precision not in ("fp16", "fp32"):
            raise ValueError(f"precision must be auto, fp16 or fp32, got {requested!r}")
        if self.rtx and precision == "fp32" and gpu.sm in FP16_ONLY_ARCHS:
            raise BackendUnavailable(f"{gpu.name} ({gpu.sm}, Turing) has no FP32 GEMM kernels in "
                                     "TensorRT-RTX; use --precision fp16")
        return precision

    # --- engine sources ---------------------------------------------------------------------
    def _prebuilt(self, gpu: GpuInfo) -> bytes | None:
        """An engine shipped beside the bundle by ``latentcam build-engine`` for this GPU."""
        if self.model.source_dir is None:
            return None
        directory = prebuilt_dir(Path(self.model.source_dir), self.model.name, self.model.sha256)
        data, why = find_prebuilt(directory, backend=self.name,
                                  version=self._trt.__version__, model_sha256=self.model.sha256,
                                  sm=gpu.sm, precision=self.precision,
                                  validate=lambda b: header_problem(self._trt, b))
        if data is None and why:
            log.info("%s; building the engine here", why)
        return data

    def _build(self) -> bytes:
        onnx_bytes, _ = engine_onnx(self.model, self.precision, self._cache.root / "onnx")
        return build_engine(self._trt, onnx_bytes, archs=None, rtx=self.rtx, precision=self.precision).data

    # --- runtime --------------------------------------------------------------------------
    def _open_engine(self, gpu: GpuInfo) -> None:
        trt, cuda = self._trt, self._cuda
        if self.rtx:
            config = self._engine.create_runtime_config()
            self._runtime_cache = config.create_runtime_cache()
            cache_path = self._cache.runtime_cache_path(self._key)
            if cache_path.is_file() and not self._runtime_cache.deserialize(cache_path.read_bytes()):
                log.warning("runtime cache %s does not match this GPU/driver; starting a new one", cache_path)
            config.set_runtime_cache(self._runtime_cache)
            if hasattr(trt, "CudaGraphStrategy"):
                # TensorRT-RTX captures each enqueue into a CUDA graph itself (our tensor addresses
                # never change), removing per-kernel launch cost — the same win as the torch backend.
                config.cuda_graph_strategy = trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
            self._context = self._engine.create_execution_context(config)
        else:
            self._context = self._engine.create_execution_context()
        if self._context is None:
            raise EngineError(f"{self.name} could not create an execution context on {gpu.name} "
                              "(out of GPU memory?)")
        s, z = self.model.size, self.model.code_dim
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if set(names) != {self.model.input_name, UINT8_OUTPUT}:
            raise EngineError(f"engine tensors {names} do not match the decoder "
                              f"({self.model.input_name} → {UINT8_OUTPUT}); rebuild it")
        in_bytes, out_bytes = z * 4, s * s * 4
        self._d_in = self._alloc("cudaMalloc", in_bytes)
        self._d_out = self._alloc("cudaMalloc", out_bytes)
        self._h_in_ptr = self._alloc("cudaMallocHost", in_bytes)
        self._h_out_ptr = self._alloc("cudaMallocHost", out_bytes)
        self._h_in = _host_array(self._h_in_ptr, (1, z), np.float32)
        self._h_out = _host_array(self._h_out_ptr, (s, s, 4), np.uint8)
        self._context.set_tensor_address(self.model.input_name, int(self._d_in))
        self._context.set_tensor_address(UINT8_OUTPUT, int(self._d_out))
        self._stream = cuda.call("cudaStreamCreateWithFlags", cuda.rt.cudaStreamNonBlocking)
        self._ev_start = cuda.call("cudaEventCreate")
        self._ev_end = cuda.call("cudaEventCreate")
        self._h2d = cuda.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._d2h = cuda.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost

    def _alloc(self, fn: str, nbytes: int) -> int:
        ptr = self._cuda.call(fn, nbytes)
        self._buffers.append(("cudaFreeHost" if fn == "cudaMallocHost" else "cudaFree", ptr))
        return ptr

    def _infer(self, code: np.ndarray) -> np.ndarray:
        cuda, s = self._cuda, self._stream
        self._h_in[...] = code
        cuda.call("cudaMemcpyAsync", self._d_in, self._h_in_ptr, self._h_in.nbytes, self._h2d, s)
        cuda.call("cudaEventRecord", self._ev_start, s)
        if not self._context.execute_async_v3(int(s)):
            raise EngineError(f"{self.name} execute_async_v3 failed (see the TensorRT log)")
        cuda.call("cudaEventRecord", self._ev_end, s)
        cuda.call("cudaMemcpyAsync", self._h_out_ptr, self._d_out, self._h_out.nbytes, self._d2h, s)
        cuda.call("cudaStreamSynchronize", s)
        self.last_gpu_ms = float(cuda.call("cudaEventElapsedTime", self._ev_start, self._ev_end))
        return self._h_out.copy()   # the pinned buffer is reused by the next call

    def close(self) -> None:
        if self._closed:
            return
        if self._runtime_cache is not None:
            try:
                blob = bytes(self._runtime_cache.serialize())
                path = self._cache.runtime_cache_path(self._key)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(blob)
                os.replace(tmp, path)
            except Exception as exc:  # a failed cache save must not break shutdown
                log.warning("could not save the TensorRT-RTX runtime cache: %s", exc)
        rt = self._cuda.rt
        for attr, fn in (("_stream", "cudaStreamDestroy"), ("_ev_start", "cudaEventDestroy"),
                         ("_ev_end", "cudaEventDestroy")):
            if getattr(self, attr, None) is not None:
                getattr(rt, fn)(getattr(self, attr))
        self._context = self._engine = None
        for fn, ptr in self._buffers:
            getattr(rt, fn)(ptr)
        self._buffers.clear()
        super().close()


class TensorRTBackend(_TensorRTBase):
    """Full TensorRT (any NVIDIA GPU TensorRT supports), installed from NVIDIA's index."""

    name = "tensorrt"
    rtx = False


class TensorRTRTXBackend(_TensorRTBase):
    """TensorRT for RTX (PyPI): consumer/workstation RTX GPUs, sm_75 … sm_121, not Hopper."""

    name = "tensorrt-rtx"
    rtx = True

    @classmethod
    def gpu_problem(cls, gpu: GpuInfo) -> str | None:
        if gpu.sm not in RTX_ARCHS:
            return (f"{gpu.name} ({gpu.sm}) is not supported by TensorRT-RTX, which targets RTX GPUs "
                    f"({', '.join(RTX_ARCHS)}); on Hopper/data-centre GPUs use --engine tensorrt "
                    f"({INSTALL_HINTS['tensorrt'].split(': ', 1)[1]}) or --engine torch")
        return None
