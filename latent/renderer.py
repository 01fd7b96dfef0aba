"""Run a target bundle's encoder and decoder with ONNX Runtime (CPU; no torch).

Used by evaluation and exploration. (The live pipeline uses ``engines`` backends for the decoder,
which add GPU engines; this is the plain reference path.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import TargetBundle


@dataclass(frozen=True)
class RendererOptions:
    threads: int = 2   # ONNX Runtime intra-op threads


class BundleRenderer:
    """``encode(features) -> z`` and ``decode(z) -> (S, S, 4) uint8 BGRA`` for one bundle."""

    def __init__(self, bundle: TargetBundle, options: RendererOptions = RendererOptions()):
        from .onnx_session import cpu_session

        self.bundle = bundle
        self._enc = cpu_session(bundle.encoder_onnx, options.threads)
        self._dec = cpu_session(bundle.decoder_onnx, options.threads)
        self._enc_in = self._enc.get_inputs()[0].name
        self._dec_in = self._dec.get_inputs()[0].name

    def __enter__(self) -> "BundleRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._enc = self._dec = None

    def encode(self, features: np.ndarray) -> np.ndarray:
        """(F,) float32 features → (Z,) float32 code."""
        f = np.asarray(features, dtype=np.float32).reshape(1, -1)
        if f.shape[1] != self.bundle.feature_size:
            raise ValueError(f"features have {f.shape[1]} entries, the bundle's encoder takes "
                             f"{self.bundle.feature_size}")
        return self._enc.run(None, {self._enc_in: f})[0][0]

    def decode_float(self, z: np.ndarray) -> np.ndarray:
        """(Z,) code → (S, S, 4) float32 BGRA in [0, 1]."""
        z = np.asarray(z, dtype=np.float32).reshape(1, -1)
        if z.shape[1] != self.bundle.code_size:
            raise ValueError(f"code has {z.shape[1]} entries, the bundle's decoder takes "
                             f"{self.bundle.code_size}")
        return self._dec.run(None, {self._dec_in: z})[0][0].transpose(1, 2, 0)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """(Z,) code → (S, S, 4) uint8 BGRA."""
        return np.clip(self.decode_float(z) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def render(self, features: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(features))
