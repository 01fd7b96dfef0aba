"""``DecoderModel``: what a backend needs to know about a decoder, without importing torch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class DecoderModel:
    """A decoder ``code (1, Z) float32 → (1, 4, S, S) float32 BGRA in 0..1``.

    ``onnx_path`` is the fp32 reference graph (the bundle's ``decoder.onnx``); ``sha256`` is its
    hash and keys every engine built from it. ``torch_factory`` (optional) returns the torch
    module — needed by the torch backend and by FP16 exports; it is called lazily so nothing
    imports torch until a torch-based path is actually used.
    """

    onnx_path: Path
    code_dim: int
    size: int
    sha256: str
    input_name: str
    output_name: str
    name: str = "decoder"
    source_dir: Path | None = None          # bundle directory (prebuilt engines live in <dir>/engines)
    torch_factory: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_onnx(cls, path: Path, *, name: str | None = None, source_dir: Path | None = None,
                  torch_factory: Callable[[], Any] | None = None) -> "DecoderModel":
        """Read shapes and names from the graph with ONNX Runtime (no onnx/torch import)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"decoder ONNX not found: {path}")
        data = path.read_bytes()
        try:
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{path} is not a loadable ONNX decoder ({exc}); re-export the target") from exc
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        in_shape, out_shape = list(inp.shape), list(out.shape)
        if (len(in_shape) != 2 or in_shape[0] != 1 or not isinstance(in_shape[1], int)
                or len(out_shape) != 4 or out_shape[:2] != [1, 4] or not isinstance(out_shape[2], int)
                or out_shape[2] != out_shape[3]):
            raise ValueError(f"{path}: decoder must map static (1, Z) → (1, 4, S, S); "
                             f"found {in_shape} → {out_shape}. Re-export with static shapes.")
        if inp.type != "tensor(float)" or out.type != "tensor(float)":
            raise ValueError(f"{path}: decoder I/O must be float32, found {inp.type} → {out.type}")
        return cls(onnx_path=path, code_dim=int(in_shape[1]), size=int(out_shape[2]),
                   sha256=hashlib.sha256(data).hexdigest(), input_name=inp.name,
                   output_name=out.name, name=name or path.stem, source_dir=source_dir,
                   torch_factory=torch_factory)

    @classmethod
    def from_bundle(cls, bundle) -> "DecoderModel":
        """From a ``latentcam.latent.bundle.TargetBundle`` (or its directory)."""
        from latentcam.latent.bundle import TargetBundle

        if not isinstance(bundle, TargetBundle):
            bundle = TargetBundle.load(Path(bundle))

        def factory():
            from latentcam.latent.export import decoder_from_bundle  # imports torch
            return decoder_from_bundle(bundle)

        model = cls.from_onnx(bundle.decoder_onnx, name=bundle.name, source_dir=Path(bundle.root),
                              torch_factory=factory)
        if (model.code_dim, model.size) != (bundle.code_size, bundle.resolution):
            raise ValueError(f"{bundle.decoder_onnx} maps {model.code_dim} → {model.size}², but the "
                             f"manifest says {bundle.code_size} → {bundle.resolution}²; re-export the bundle")
        return model
