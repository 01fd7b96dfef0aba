"""ONNX Runtime CPU backend: the default without a GPU and the reference the GPU backends match."""

from __future__ import annotations

import numpy as np

from latentcam.latent.onnx_session import cpu_session

from .decoder_backend import BackendOptions, DecoderBackend
from .model import DecoderModel
from .postprocess import to_bgra_uint8


def reference_images(model: DecoderModel, codes: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime fp32 → NumPy post-processing: the ground truth every backend is held to."""
    session = cpu_session(model.onnx_path, threads=1)
    return [to_bgra_uint8(session.run([model.output_name], {model.input_name: c})[0]) for c in codes]


class OnnxRuntimeBackend(DecoderBackend):
    """CPU decoder on ONNX Runtime, fp32 (fp16 gains nothing on CPUs). Needs neither torch nor
    the onnx package. The uint8 conversion runs in NumPy/OpenCV on the session's fresh output
    buffer (cheaper on a CPU than in the graph; see ``postprocess``)."""

    name = "onnxruntime"
    verified = False   # it is the reference

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return 'onnxruntime is not installed: pip install onnxruntime'
        return None

    def __init__(self, model: DecoderModel, options: BackendOptions = BackendOptions()):
        super().__init__(model, options)
        self.precision = "fp32"
        self.device = f"cpu ({options.threads} threads)"
        self._session = cpu_session(model.onnx_path.read_bytes(), options.threads)
        self._outputs = [model.output_name]
        self._feed = model.input_name

    def _infer(self, code: np.ndarray) -> np.ndarray:
        out = self._session.run(self._outputs, {self._feed: code})[0]
        return to_bgra_uint8(out, inplace=True)

    def close(self) -> None:
        self._session = None
        super().close()
