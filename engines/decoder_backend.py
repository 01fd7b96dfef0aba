"""The decoder-backend interface every engine implements: ``DecoderBackend`` and its options.

Its own module (not the registry's) so that the backends import it without importing the
loader, which imports them: no import cycle inside ``engines``.
``run(code (1, Z) float32) -> (S, S, 4) uint8 BGRA``; GPU backends (and the torch CPU fallback)
check their output on warm-up against ONNX Runtime on fixed codes and are refused outside
``WARMUP_TOLERANCE_LEVELS``.
"""

from __future__ import annotations

import logging
import math
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .errors import EngineRefused
from .export import FP16_MAX_ABS_ERROR, FP32_MAX_ABS_ERROR, check_codes
from .model import DecoderModel

if TYPE_CHECKING:
    from .backend import TimingRow

#: Largest allowed |backend − ONNX Runtime fp32| in uint8 levels per precision: the export error
#: bound in levels plus one level for round-half-up landing on the other side of a boundary.
WARMUP_TOLERANCE_LEVELS = {
    "fp32": math.ceil(FP32_MAX_ABS_ERROR * 255) + 1,   # 2
    "fp16": math.ceil(FP16_MAX_ABS_ERROR * 255) + 1,   # 5
}
WARMUP_CHECK_CODES = 3

log = logging.getLogger("latentcam.engines")


@dataclass(frozen=True)
class BackendOptions:
    threads: int = 2                  # intra-op threads of CPU backends (ONNX Runtime, torch CPU)
    precision: str = "auto"           # "auto" (fp16 on GPU, fp32 on CPU), "fp32" or "fp16"
    device_index: int = 0             # CUDA device for GPU backends
    cache_dir: Path | None = None     # engine cache root; None = the user cache directory
    verify: bool = True               # compare against ONNX Runtime on warm-up (GPU backends)
    fallback: bool = True             # on failure fall back to onnxruntime instead of raising
    warmup_runs: int = 3              # untimed runs in warm_up()
    auto_timing_runs: int = 30        # timed warm runs per backend for name="auto"
    verbose: bool = True              # print fallback reasons and the auto table to stderr
    ort_provider: str = "auto"        # onnxruntime's execution provider: auto | cpu | cuda | ... (see
                                      # latent.onnx_session.PROVIDER_KEYS); auto = the best one offered


def say(options: BackendOptions, message: str) -> None:
    """Tell the user why an engine or provider was not used: stderr when ``options.verbose``,
    else the ``latentcam.engines`` log."""
    if options.verbose:
        print(message, file=sys.stderr)
    else:
        log.warning(message)


class DecoderBackend(ABC):
    """A loaded decoder. Use as a context manager; ``close()`` is safe to call twice."""

    name: ClassVar[str]
    #: Whether warm-up output is checked against ONNX Runtime (all but ONNX Runtime itself).
    verified: ClassVar[bool] = True

    def __init__(self, model: DecoderModel, options: BackendOptions):
        self.model = model
        self.options = options
        self.precision: str = "fp32"
        self.device: str = "cpu"
        self.last_gpu_ms: float | None = None
        self.load_notes: tuple[str, ...] = ()    # why preferred backends were skipped
        self.selection_table: list[TimingRow] = []   # filled by load_backend("auto")
        self._closed = False

    # --- availability -------------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        """Cheap check (no model load): None when this backend can run here, else why not."""
        return None

    # --- per-frame ------------------------------------------------------------------------
    def run(self, code: np.ndarray) -> np.ndarray:
        """``code (1, Z) float32`` → ``(S, S, 4) uint8`` BGRA face crop."""
        if self._closed:
            raise RuntimeError(f"{self.name} backend is closed")
        code = np.asarray(code)
        if code.shape != (1, self.model.code_dim):
            raise ValueError(f"unexpected code shape: {code.shape} != (1, {self.model.code_dim})")
        if code.dtype != np.float32:
            code = code.astype(np.float32)
        return self._infer(np.ascontiguousarray(code))

    @abstractmethod
    def _infer(self, code: np.ndarray) -> np.ndarray:
        """The backend's own inference: contiguous ``(1, Z) float32`` → ``(S, S, 4) uint8``."""

    # --- lifecycle ------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Run a few frames (kernel selection, CUDA graph capture, JIT) and verify the output."""
        zero = np.zeros((1, self.model.code_dim), np.float32)
        for _ in range(max(1, self.options.warmup_runs)):
            self.run(zero)
        if self.verified and self.options.verify:
            self.verify_against_reference()

    def verify_against_reference(self) -> float:
        """Compare with ONNX Runtime fp32 on fixed codes; raise ``EngineRefused`` when too far."""
        from .ort_backend import reference_images

        codes = check_codes(self.model.code_dim, WARMUP_CHECK_CODES, seed=1234)
        expected = reference_images(self.model, codes)
        worst = 0
        for code, ref in zip(codes, expected):
            got = self.run(code)
            if got.shape != ref.shape or got.dtype != np.uint8:
                raise EngineRefused(f"{self.name} returned {got.dtype}{got.shape}, expected uint8{ref.shape}")
            worst = max(worst, int(np.max(np.abs(got.astype(np.int16) - ref.astype(np.int16)))))
        tolerance = WARMUP_TOLERANCE_LEVELS[self.precision]
        if worst > tolerance:
            raise EngineRefused(
                f"{self.name} ({self.precision}, {self.device}) output differs from the ONNX Runtime "
                f"CPU reference by {worst} levels (tolerance {tolerance}); engine refused. Delete the engine cache "
                f"(latentcam engines --clear-cache) or report the GPU/driver if this repeats.")
        return worst

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "DecoderBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.precision} on {self.device}>"
