"""Running the decoder fast: ONNX export, backends (ONNX Runtime, torch, TensorRT, TensorRT-RTX),
engine cache and ahead-of-time TensorRT-RTX builds.

``load_backend(name, bundle, options).run(code (1, Z) float32) -> (S, S, 4) uint8 BGRA``.
"""

from .backend import (availability, backend_names, default_backend_name, load_backend,
                      register_backend)
from .decoder_backend import BackendOptions, DecoderBackend
from .errors import (AllBackendsFailed, BackendUnavailable, EngineBuildError, EngineError,
                     EngineRefused)
from .model import DecoderModel

__all__ = [
    "AllBackendsFailed", "BackendOptions", "BackendUnavailable", "DecoderBackend", "DecoderModel",
    "EngineBuildError", "EngineError", "EngineRefused", "availability", "backend_names",
    "default_backend_name",
    "load_backend", "register_backend",
]
