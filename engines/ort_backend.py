"""ONNX Runtime backend: the default decoder engine and, on its CPU provider, the reference every
other backend is held to.

It runs on the best execution provider the installed ONNX Runtime offers (``options.ort_provider``,
"auto" by default; ``latent.onnx_session.PROVIDERS`` gives the order): CUDA or TensorRT with
onnxruntime-gpu, DirectML, Core ML, ROCm/MIGraphX, OpenVINO, else the CPU. An accelerated provider
is held to the CPU provider like every GPU backend: on warm-up its output on fixed codes must stay
within ``WARMUP_TOLERANCE_LEVELS``. A provider that is not offered, fails to start, is silently
dropped by ONNX Runtime, fails on warm-up or computes out of tolerance is reported (``say``, and in
``load_notes``) and the next one offered takes over, at last the CPU provider — the backend always
works. With ``options.fallback`` off (strict, as the decoder benchmark runs) a provider that fails
or disagrees raises instead, and so does a named provider that is not offered or does not start;
``auto`` still passes over providers that do not start (that is how it finds what this machine has).
"""

from __future__ import annotations

import numpy as np

from latentcam.latent import onnx_session
from latentcam.latent.onnx_session import cpu_session

from .decoder_backend import BackendOptions, DecoderBackend, say
from .errors import BackendUnavailable, EngineError, EngineRefused
from .model import DecoderModel
from .postprocess import to_bgra_uint8


def reference_images(model: DecoderModel, codes: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime fp32 on the CPU → NumPy post-processing: the ground truth every backend (and
    every accelerated provider) is held to."""
    session = cpu_session(model.onnx_path, threads=1)
    return [to_bgra_uint8(session.run([model.output_name], {model.input_name: c})[0]) for c in codes]


def provider_cache_dir(options: BackendOptions, provider_key: str, model: DecoderModel):
    """Where TensorRT, Core ML and OpenVINO keep what they compile for this decoder: beside
    latentcam's own engines (``latentcam engines --clear-cache`` empties it), per ONNX Runtime
    version and decoder, since their caches are valid only for the model and runtime they came from."""
    import onnxruntime as ort

    from .cache import default_cache_root

    root = options.cache_dir if options.cache_dir is not None else default_cache_root()
    folder = root / f"{model.sha256[:12]}-ort-{provider_key}-{ort.__version__}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class OnnxRuntimeBackend(DecoderBackend):
    """The decoder on ONNX Runtime, fp32 graph (fp16 gains nothing on CPUs). Needs neither torch
    nor the onnx package. The uint8 conversion runs in NumPy/OpenCV on the session's fresh output
    buffer (cheaper on a CPU than in the graph; see ``postprocess``). ``provider`` is the ONNX
    Runtime execution provider in use and ``device`` names it."""

    name = "onnxruntime"
    verified = False   # on the CPU provider it is the reference; set per instance otherwise

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return 'onnxruntime is not installed: pip install onnxruntime'
        return None

    def __init__(self, model: DecoderModel, options: BackendOptions = BackendOptions()):
        super().__init__(model, options)
        self._outputs = [model.output_name]
        self._feed = model.input_name
        self._session = None
        self._strict_start = not options.fallback and options.ort_provider != "auto"
        self._candidates, why = onnx_session.provider_candidates(options.ort_provider,
                                                                 onnx_session.available_providers())
        if why is not None:
            self._skip(options.ort_provider, why, BackendUnavailable, strict=self._strict_start)
        self._open_next()

    # --- providers, best first, the CPU last ---------------------------------------------------
    def _open_next(self) -> None:
        """Open the next candidate provider that starts (the CPU always does)."""
        while True:
            chosen = self._candidates.pop(0)
            if chosen.is_cpu:
                self._session = cpu_session(self.model.onnx_path.read_bytes(), self.options.threads)
                self.provider, self.precision = onnx_session.CPU, "fp32"
                self.device = f"cpu ({self.options.threads} threads)"
                self.verified = False     # the reference itself
                return
            cache = provider_cache_dir(self.options, chosen.key, self.model) if chosen.caches else None
            setup = onnx_session.provider_setup(chosen, device_index=self.options.device_index,
                                                fp16=self.options.precision in ("auto", "fp16"),
                                                cache_dir=cache)
            try:
                self._session = onnx_session.provider_session(self.model.onnx_path.read_bytes(), setup,
                                                              self.options.threads)
            except Exception as exc:   # onnxruntime raises its own exception types (not RuntimeError)
                self._skip(chosen.key, f"could not start: {type(exc).__name__}: {exc}",
                           BackendUnavailable, strict=self._strict_start)
                continue
            self.provider, self.precision, self.device = chosen.ort_name, setup.precision, setup.device
            self.verified = True          # checked against the CPU provider in warm_up()
            return

    def _skip(self, key: str, why: str, error: type[EngineError], *, strict: bool) -> None:
        """Say why provider ``key`` is not used (the next candidate is); when ``strict``, raise."""
        if strict:
            raise error(f"onnxruntime provider {key}: {why}")
        say(self.options, f"[engines] onnxruntime: provider {key} not used — {why}")
        self.load_notes = (*self.load_notes, f"onnxruntime provider {key}: {why}")

    def warm_up(self) -> None:
        """Warm up; an accelerated provider is also checked against the CPU provider, and on
        failure or disagreement the next candidate (at last the CPU) takes over."""
        while True:
            if self.provider == onnx_session.CPU:
                return super().warm_up()
            key = onnx_session.provider(self.provider).key
            try:
                return super().warm_up()
            except EngineRefused as exc:   # a wrong image is never accepted, even in auto
                self._skip(key, f"refused: {exc}", EngineRefused, strict=not self.options.fallback)
            except Exception as exc:       # onnxruntime's own exception types: the provider failed to run
                self._skip(key, f"failed on warm-up ({self.device}): {type(exc).__name__}: {exc}",
                           BackendUnavailable, strict=not self.options.fallback)
            self._session = None
            self._open_next()

    def _infer(self, code: np.ndarray) -> np.ndarray:
        out = self._session.run(self._outputs, {self._feed: code})[0]
        return to_bgra_uint8(out, inplace=True)

    def close(self) -> None:
        self._session = None
        super().close()
