"""Exceptions of the engines package: each says what happened and what to do."""

from __future__ import annotations

from latentcam.facekit.errors import LatentcamError


class EngineError(LatentcamError, RuntimeError):
    """Base class for every engines error (exit code 1: what this machine lacks or fails at)."""


class BackendUnavailable(EngineError):
    """A backend cannot run here: package missing, no GPU, unsupported GPU, no torch model."""


class EngineRefused(EngineError):
    """A backend produced output that disagrees with the ONNX Runtime reference on warm-up."""


class EngineBuildError(EngineError):
    """Building or exporting an engine failed (ONNX parse error, builder returned nothing)."""


class AllBackendsFailed(EngineError):
    """No backend could be loaded; ``reasons`` maps each backend name to why it failed."""

    def __init__(self, reasons: dict[str, str]):
        self.reasons = dict(reasons)
        lines = "\n".join(f"  - {name}: {why}" for name, why in self.reasons.items())
        super().__init__(f"no decoder backend could be loaded:\n{lines}")
