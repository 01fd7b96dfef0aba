"""Per-frame timing: stage timers, end-to-end latency, throughput, jitter, drops and CPU use.

Every frame carries a ``FrameClock`` with ``time.monotonic()`` start/end stamps per stage.
End-to-end latency is measured from the grabber's capture stamp (``Frame.capture_time``) to the
return of the last sink write — never computed as a sum of stage timers, so queueing, thread
hand-offs and anything we forgot to time are included.

Storage is a preallocated ring (``capacity`` frames), so a live run of hours uses constant memory.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

# Stages in pipeline order. "capture" is the time a frame waited between the grabber's stamp and
# the pipeline picking it up; "handoff" the wait between the tracking and rendering threads.
STAGES: tuple[str, ...] = ("capture", "track", "smooth", "retarget", "encode", "handoff",
                           "decode", "composite", "label", "watermark", "sink")
_STAGE_INDEX = {name: i for i, name in enumerate(STAGES)}


class FrameClock:
    """Stage timestamps of one frame (monotonic seconds)."""

    __slots__ = ("index", "capture_time", "starts", "ends", "gpu_ms", "tracked")

    def __init__(self, index: int, capture_time: float):
        self.index = index
        self.capture_time = capture_time
        self.starts = [np.nan] * len(STAGES)
        self.ends = [np.nan] * len(STAGES)
        self.gpu_ms = np.nan
        self.tracked = True

    def mark(self, stage: str, start: float, end: float) -> None:
        i = _STAGE_INDEX[stage]
        self.starts[i], self.ends[i] = start, end

    def begin(self, stage: str, t: float | None = None) -> None:
        self.starts[_STAGE_INDEX[stage]] = time.monotonic() if t is None else t

    def end(self, stage: str, t: float | None = None) -> None:
        self.ends[_STAGE_INDEX[stage]] = time.monotonic() if t is None else t

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.mark(name, start, time.monotonic())


def percentiles(values: np.ndarray, qs=(50, 95, 99)) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {**{f"p{q}": None for q in qs}, "mean": None, "max": None, "n": 0}
    out = {f"p{q}": float(np.percentile(v, q)) for q in qs}
    out.update(mean=float(v.mean()), max=float(v.max()), n=int(v.size))
    return out


@dataclass
class Counters:
    frames_in: int = 0          # frames the pipeline took from the source
    frames_out: int = 0         # frames written to the sinks (incl. "camera lost" repeats)
    dropped: int = 0            # frames discarded inside the pipeline (newest-wins hand-off)
    source_dropped: int = 0     # frames the camera grabber overwrote before we read them
    repeats: int = 0            # frames re-sent while the camera was lost
    faces: int = 0              # frames with a tracked face


class Telemetry:
    """Collects ``FrameClock``s; computes summaries and status lines."""

    def __init__(self, capacity: int = 1 << 16, target_fps: float | None = None):
        self.capacity = capacity
        self.target_fps = target_fps
        self._stage_ms = np.full((capacity, len(STAGES)), np.nan, dtype=np.float32)
        self._e2e_ms = np.full(capacity, np.nan, dtype=np.float64)
        self._done_at = np.full(capacity, np.nan, dtype=np.float64)
        self._gpu_ms = np.full(capacity, np.nan, dtype=np.float32)
        self._n = 0
        self.counters = Counters()
        self.first_frame_ms: float | None = None
        self._start_wall: float | None = None
        self._start_cpu: float | None = None
        self._end_wall: float | None = None
        self._end_cpu: float | None = None
        self._process = None
        #: The lip-sync delay's summary (``AudioDelay.summary()``) when ``--delay-audio`` ran.
        self.audio: dict | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        import psutil

        self._process = psutil.Process(os.getpid())
        self._start_wall = time.monotonic()
        self._start_cpu = self._cpu_seconds()

    def stop(self) -> None:
        self._end_wall = time.monotonic()
        self._end_cpu = self._cpu_seconds()

    def _cpu_seconds(self) -> float:
        if self._process is None:
            return 0.0
        t = self._process.cpu_times()
        return float(t.user + t.system)

    # --- recording ---------------------------------------------------------------------------
    def record(self, clock: FrameClock, done_at: float) -> None:
        """Record a frame whose last sink write returned at ``done_at`` (monotonic s)."""
        slot = self._n % self.capacity
        row = self._stage_ms[slot]
        for i in range(len(STAGES)):
            row[i] = (clock.ends[i] - clock.starts[i]) * 1000.0
        e2e = (done_at - clock.capture_time) * 1000.0
        self._e2e_ms[slot] = e2e
        self._done_at[slot] = done_at
        self._gpu_ms[slot] = clock.gpu_ms
        if self._n == 0 and self._start_wall is not None:
            self.first_frame_ms = (done_at - self._start_wall) * 1000.0
        self._n += 1
        self.counters.frames_out += 1

    @property
    def frames(self) -> int:
        return self._n

    def _valid(self, arr: np.ndarray) -> np.ndarray:
        """Rows in chronological order (the ring may have wrapped)."""
        if self._n <= self.capacity:
            return arr[: self._n]
        k = self._n % self.capacity
        return np.concatenate([arr[k:], arr[:k]])

    def e2e_ms(self) -> np.ndarray:
        return self._valid(self._e2e_ms).copy()

    def stage_ms(self, stage: str) -> np.ndarray:
        return self._valid(self._stage_ms)[:, _STAGE_INDEX[stage]].astype(np.float64)

    def done_times(self) -> np.ndarray:
        return self._valid(self._done_at).copy()

    def recent_e2e_ms(self, n: int = 30) -> float | None:
        if self._n == 0:
            return None
        idx = [(self._n - 1 - i) % self.capacity for i in range(min(n, self._n, self.capacity))]
        return float(np.nanmedian(self._e2e_ms[idx]))

    def recent_fps(self, n: int = 30) -> float | None:
        if self._n < 2:
            return None
        k = min(n, self._n, self.capacity)
        idx = [(self._n - k + i) % self.capacity for i in range(k)]
        t = self._done_at[idx]
        span = t[-1] - t[0]
        return (k - 1) / span if span > 0 else None

    # --- summaries ---------------------------------------------------------------------------
    def summary(self) -> dict:
        wall = None
        cpu_pct = None
        if self._start_wall is not None:
            end = self._end_wall if self._end_wall is not None else time.monotonic()
            end_cpu = self._end_cpu if self._end_cpu is not None else self._cpu_seconds()
            wall = end - self._start_wall
            if wall > 0:
                cpu_pct = 100.0 * (end_cpu - self._start_cpu) / wall
        done = self.done_times()
        intervals = np.diff(done) * 1000.0 if done.size > 1 else np.array([])
        interval = percentiles(intervals)
        if intervals.size:
            interval["std"] = float(np.std(intervals))
        fps = None
        if done.size > 1 and done[-1] > done[0]:
            fps = (done.size - 1) / (done[-1] - done[0])
        c = self.counters
        return {
            "frames": self._n,
            "stages_ms": {s: percentiles(self.stage_ms(s)) for s in STAGES},
            "e2e_ms": percentiles(self.e2e_ms()),
            "gpu_ms": percentiles(self._valid(self._gpu_ms)),
            "fps": fps,
            "sink_interval_ms": interval,
            "dropped": c.dropped,
            "source_dropped": c.source_dropped,
            "repeats": c.repeats,
            "frames_in": c.frames_in,
            "frames_out": c.frames_out,
            "face_fraction": (c.faces / c.frames_in) if c.frames_in else None,
            "first_frame_ms": self.first_frame_ms,
            "wall_s": wall,
            "cpu_percent": cpu_pct,                      # 100 = one core fully busy
            "cpu_cores": os.cpu_count(),
            **({"audio": self.audio} if self.audio is not None else {}),
        }

    def write_json(self, path: Path | str, extra: dict | None = None) -> dict:
        data = self.summary()
        if extra:
            data.update(extra)
        Path(path).write_text(json.dumps(data, indent=2))
        return data

    def status_line(self, engine: str = "", state: str = "") -> str:
        fps = self.recent_fps()
        e2e = self.recent_e2e_ms()
        parts = [f"{fps:5.1f} fps" if fps else "  --  fps",
                 f"e2e {e2e:5.1f} ms" if e2e is not None else "e2e  -- ms"]
        if engine:
            parts.append(engine)
        c = self.counters
        parts.append(f"drops {c.dropped + c.source_dropped}")
        if state:
            parts.append(state)
        return " | ".join(parts)
