"""torch backend: CUDA FP16 channels-last, the whole call captured in one CUDA graph; CPU fallback.

On CUDA, ``run`` is: copy the code into a pinned host buffer → async copy into the static device
input → replay the graph (cast, decoder, ×255 + 0.5, clamp, uint8, HWC — all captured) → async
copy of the static device output into pinned host memory → wait on one event. GPU time is
measured with CUDA events around the replay.
"""

from __future__ import annotations

import numpy as np

from .decoder_backend import BackendOptions, DecoderBackend
from .errors import BackendUnavailable, EngineError
from .model import DecoderModel
from .postprocess import to_bgra_uint8


def _torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailable('torch is not installed: pip install "latentcam[torch]"') from None
    return torch


class TorchBackend(DecoderBackend):
    name = "torch"

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        import importlib.util

        try:
            found = importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):   # ValueError: a blocked/None entry in sys.modules
            found = False
        if not found:
            return 'torch is not installed: pip install "latentcam[torch]"'
        return None

    def __init__(self, model: DecoderModel, options: BackendOptions = BackendOptions()):
        super().__init__(model, options)
        torch = _torch()
        if model.torch_factory is None:
            raise BackendUnavailable(f"{model.name} has no torch model (only ONNX); load it from its "
                                     "target bundle to use the torch backend")
        self._torch = torch
        module = model.torch_factory().eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self._graph = None
        if torch.cuda.is_available():
            self._init_cuda(module, options)
        else:
            if options.precision == "fp16":
                raise BackendUnavailable("torch fp16 needs a CUDA GPU (none found); use --precision fp32 "
                                         "or the onnxruntime backend")
            self._init_cpu(module, options)

    # --- CPU ------------------------------------------------------------------------------
    def _init_cpu(self, module, options: BackendOptions) -> None:
        torch = self._torch
        self.precision = "fp32"
        self.device = f"cpu ({options.threads} threads)"
        self._module = module.float().to(memory_format=torch.channels_last)

    # --- CUDA -----------------------------------------------------------------------------
    def _init_cuda(self, module, options: BackendOptions) -> None:
        torch = self._torch
        dev = torch.device("cuda", options.device_index)
        self.precision = "fp32" if options.precision == "fp32" else "fp16"
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        props = torch.cuda.get_device_properties(dev)
        self.device = f"cuda:{options.device_index} {props.name} (sm_{props.major}{props.minor})"
        try:
            self._module = module.to(dev, dtype=dtype).to(memory_format=torch.channels_last)
            s, z = self.model.size, self.model.code_dim
            self._host_in = torch.empty((1, z), dtype=torch.float32, pin_memory=True)
            self._host_out = torch.empty((s, s, 4), dtype=torch.uint8, pin_memory=True)
            self._dev_in = torch.zeros((1, z), dtype=torch.float32, device=dev)
            self._stream = torch.cuda.Stream(dev)
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._done = torch.cuda.Event()
            with torch.inference_mode(), torch.cuda.stream(self._stream):
                for _ in range(3):     # warm the allocator/cuDNN before capture
                    self._dev_out = self._forward(dtype)
                self._stream.synchronize()
                self._graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self._graph, stream=self._stream):
                    self._dev_out = self._forward(dtype)
            self._stream.synchronize()
        except torch.cuda.OutOfMemoryError as exc:
            raise EngineError(f"out of GPU memory loading the {self.precision} decoder on "
                              f"{props.name}: close other GPU programs or use a smaller preset ({exc})") from exc
        self._dtype = dtype

    def _forward(self, dtype):
        torch = self._torch
        y = self._module(self._dev_in.to(dtype))                  # (1, 4, S, S)
        y = (y.float() * 255.0 + 0.5).clamp_(0.0, 255.0)
        return y.to(torch.uint8)[0].permute(1, 2, 0).contiguous()  # (S, S, 4)

    # --- per frame ------------------------------------------------------------------------
    def _infer(self, code: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self._graph is None:
            # torch's CPU thread pool is process-wide: take the requested count for this call only.
            previous = torch.get_num_threads()
            torch.set_num_threads(self.options.threads)
            try:
                with torch.inference_mode():
                    y = self._module(torch.from_numpy(code)).numpy()
            finally:
                torch.set_num_threads(previous)
            return to_bgra_uint8(y, inplace=True)
        self._host_in.numpy()[...] = code
        with torch.cuda.stream(self._stream):
            self._dev_in.copy_(self._host_in, non_blocking=True)
            self._start.record(self._stream)
            self._graph.replay()
            self._end.record(self._stream)
            self._host_out.copy_(self._dev_out, non_blocking=True)
            self._done.record(self._stream)
        self._done.synchronize()
        self.last_gpu_ms = float(self._start.elapsed_time(self._end))
        return self._host_out.numpy().copy()   # the pinned buffer is reused by the next call

    def close(self) -> None:
        if not self._closed:
            self._graph = None
            self._module = None
        super().close()
