"""The one way latentcam opens an ONNX Runtime session on the CPU.

Explicit thread counts (ONNX Runtime's default takes every core), sequential execution, every
graph optimisation. Spinning is off by default: in the live pipeline the encoder and decoder share
a few cores with MediaPipe and the compositor, and spinning intra-op threads would burn the time
those stages need (``benchmarks/engines`` measures both). Used by the live encoder, the ONNX
Runtime decoder backend, the export checks, evaluation and the benchmarks. No torch.
"""

from __future__ import annotations

from pathlib import Path


def session_options(threads: int, spinning: bool = False):
    """``onnxruntime.SessionOptions`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return opts


def cpu_session(model: Path | str | bytes, threads: int = 1, *, spinning: bool = False):
    """An ``onnxruntime.InferenceSession`` on the CPU provider for a model file or its bytes."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(threads, spinning),
                                providers=["CPUExecutionProvider"])


__all__ = ["cpu_session", "session_options"]
