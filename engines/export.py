"""torch decoder → ONNX, FP32 and strongly typed FP16, checked and compared with torch.

Needs torch and onnx (training/export extras); never imported on the live CPU path.

The graph itself comes from the one exporter, ``latent.export.export_onnx``, with the bundle's
I/O names (``latent.export.DECODER_IO``) and opset (``latent.bundle.ONNX_OPSET``: 17, the newest
opset every consumer we target parses completely — ONNX Runtime >= 1.18, the TensorRT 10 and
TensorRT-RTX 1.x parsers — and that the legacy TorchScript exporter emits well). So an fp16 engine
graph has the same input name as the bundle's fp32 ``decoder.onnx`` the engines bind to.

FP16 is exported as a *typed* graph: weights and activations are float16 and the only float32
tensors are the graph's input and output, with explicit ``Cast`` nodes right after the input and
right before the output. TensorRT-RTX builds only strongly typed networks (precision comes from
the ONNX types; there is no FP16 builder flag) and TensorRT deprecates that flag, so the precision
must live in the file. The float32 I/O keeps one calling convention for every precision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcam.latent.bundle import ONNX_OPSET

from .errors import EngineBuildError

PRECISIONS = ("fp32", "fp16")

#: Max |ONNX Runtime − torch fp32| over the check codes, decoder output in 0..1. Measured here on
#: the `cpu` preset decoder (256², weights spanning the output range): 9e-8 (fp32) and 8e-4
#: (fp16 graph; torch's own fp16 on CPU: 1.4e-3). The warping decoder samples a texture at
#: computed coordinates, so float rounding in the coordinates shows up scaled by the texture's
#: gradient: 1.4e-4 in fp32 with random weights (displacements across the whole crop), 1e-5 for
#: a trained one. The bounds leave headroom for GPU kernels, which accumulate differently, and
#: stay well under one uint8 level (0.0039).
FP32_MAX_ABS_ERROR = 1e-3
FP16_MAX_ABS_ERROR = 1.5e-2
MAX_ABS_ERROR = {"fp32": FP32_MAX_ABS_ERROR, "fp16": FP16_MAX_ABS_ERROR}

@dataclass(frozen=True)
class ExportOptions:
    precision: str = "fp32"      # "fp32" or "fp16" (typed graph, float32 I/O)
    opset: int = ONNX_OPSET
    check_codes: int = 4         # fixed codes compared between torch and ONNX Runtime
    seed: int = 0                # seed of those codes


@dataclass(frozen=True)
class ExportReport:
    path: Path
    precision: str
    opset: int
    code_dim: int
    size: int                    # output side S
    max_abs_error: float         # vs the torch fp32 module, over the check codes
    tolerance: float
    bytes: int


def check_codes(code_dim: int, count: int = 4, seed: int = 0) -> np.ndarray:
    """Fixed codes ``(count, 1, Z)`` float32: zero, then seeded standard normals."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((count, 1, code_dim)).astype(np.float32)
    codes[0] = 0.0
    return codes


def _half_wrapper(module):
    import torch

    class HalfDecoder(torch.nn.Module):
        """float32 code → Cast → fp16 decoder → Cast → float32 image."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner.half()

        def forward(self, code):
            return self.inner(code.to(torch.float16)).to(torch.float32)

    return HalfDecoder(copy.deepcopy(module))


def export_decoder(module, code_dim: int, path: Path, options: ExportOptions = ExportOptions()) -> ExportReport:
    """Export a torch decoder ``code (1, Z) → (1, 4, S, S)`` to ``path`` with static shapes.

    The file is checked with ``onnx.checker`` (full check, with shape inference) and run with
    ONNX Runtime on fixed codes; a result further than ``MAX_ABS_ERROR[precision]`` from the
    torch fp32 module raises ``EngineBuildError``.
    """
    import onnx
    import torch

    from latentcam.latent.export import DECODER_IO, export_onnx

    if options.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {options.precision!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = copy.deepcopy(module).float().cpu().eval()
    codes = check_codes(code_dim, options.check_codes, options.seed)
    with torch.inference_mode():
        reference = np.stack([module(torch.from_numpy(c)).numpy() for c in codes])
    if reference.ndim != 5 or reference.shape[1:3] != (1, 4) or reference.shape[3] != reference.shape[4]:
        raise EngineBuildError(f"decoder must map (1, {code_dim}) → (1, 4, S, S); got {reference.shape[1:]}")
    size = int(reference.shape[-1])

    to_export = module if options.precision == "fp32" else _half_wrapper(module)
    example = torch.from_numpy(codes[1])
    tmp = export_onnx(to_export, example, path.with_name(path.name + ".partial"), *DECODER_IO,
                      opset=options.opset)
    model = onnx.load(str(tmp))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        tmp.unlink(missing_ok=True)
        raise EngineBuildError(f"exported {options.precision} ONNX failed the ONNX checker: {exc}") from exc
    if options.precision == "fp16":
        _assert_typed_fp16(model)

    max_err = _max_abs_error(tmp.read_bytes(), DECODER_IO[0], codes, reference)
    tolerance = MAX_ABS_ERROR[options.precision]
    if not max_err <= tolerance:
        tmp.unlink(missing_ok=True)
        raise EngineBuildError(
            f"{options.precision} export differs from torch by {max_err:.3g} (> {tolerance:g}); "
            "the decoder has layers that do not survive this precision — export fp32 instead")
    tmp.replace(path)
    return ExportReport(path=path, precision=options.precision, opset=options.opset,
                        code_dim=code_dim, size=size, max_abs_error=max_err,
                        tolerance=tolerance, bytes=path.stat().st_size)


def _assert_typed_fp16(model) -> None:
    """Float I/O, fp16 everywhere else: no float32 weight tensors may remain (small float32
    parameters such as Resize scales are float32 by the ONNX spec and allowed)."""
    from onnx import TensorProto

    stray = [t.name for t in model.graph.initializer
             if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) >= 16]
    if stray:
        raise EngineBuildError(f"fp16 export still holds float32 weights: {stray[:5]}")


def _max_abs_error(onnx_bytes: bytes, input_name: str, codes: np.ndarray, reference: np.ndarray) -> float:
    from latentcam.latent.onnx_session import cpu_session

    session = cpu_session(onnx_bytes, threads=1)
    outs = np.stack([session.run(None, {input_name: c})[0] for c in codes])
    if outs.shape != reference.shape:
        raise EngineBuildError(f"ONNX output shape {outs.shape[1:]} != torch {reference.shape[1:]}")
    return float(np.max(np.abs(outs.astype(np.float64) - reference)))
