"""The transformations a watermark must survive: H.264 at a set bitrate, rescaling, JPEG.

Shared by the tests and ``benchmarks/provenance/watermark.py``. H.264 at a chosen bitrate needs
PyAV (``pip install av``, in the ``dev`` extra): OpenCV's VideoWriter cannot set a bitrate.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - dev extra installed in CI
        raise RuntimeError("H.264 re-encoding needs PyAV: pip install av (or `pip install -e .[dev]`)") from exc
    return av


def h264_roundtrip(frames: Iterable[np.ndarray], bitrate: int = 2_000_000, fps: int = 30,
                   preset: str = "veryfast") -> list[np.ndarray]:
    """Encode BGR frames with libx264 at ``bitrate`` bit/s (yuv420p) and decode them again."""
    data = encode_h264(frames, bitrate=bitrate, fps=fps, preset=preset)
    av = _av()
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def encode_h264(frames: Iterable[np.ndarray], bitrate: int = 2_000_000, fps: int = 30,
                preset: str = "veryfast", path: Path | None = None) -> bytes:
    """MP4 bytes (also written to ``path`` when given) of BGR frames as H.264 at ``bitrate``."""
    av = _av()
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.bit_rate = int(bitrate)
                stream.options = {"preset": preset}
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("no frames to encode")
        for packet in stream.encode():
            container.mux(packet)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def rescale(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (width, height) as players and uploaders downscale (area averaging)."""
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)
