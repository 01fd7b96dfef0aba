"""``latentcam bench``: the whole pipeline on a clip, measured the way a user would run it.

For every engine available here (plus a ``passthrough`` baseline that sends the camera frame
straight to the sink) and every schedule (serial, overlapped), the clip runs

* **paced** — replayed behind the real camera source at a webcam's rate (newest frame wins,
  drops counted), which gives the latency a user sees; and
* **fast** — every frame, as fast as possible, which gives throughput.

Reported per run: per-stage and end-to-end p50/p95/p99 (end to end = capture stamp → return of
the sink write, measured, not summed), fps, sink frame-interval jitter, drops, CPU %, first-frame
time. The expression lag (the frame shift at which the driver's and the re-tracked output's
jawOpen/eyeBlink series correlate best — it includes smoothing) plus the end-to-end latency give
the audio delay to set in OBS or the call app. The schedule with the lower paced p99 becomes this
machine's live default. Results: ``bench.json`` (+ ``bench_series.json``, the per-frame series),
``bench.png`` and ``bench.md`` in the output folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from latentcam.latent.onnx_session import PROVIDER_KEYS

from .config import LiveConfig, apply_overrides
from .pipeline import LivePipeline, PipelineOptions, Schedule
from .stages import SinkBinding, Stages, View
from .replay import FramesSource, clip_frame_count, load_clip, replay_camera
from .session import build_stages, configure_threads, mode_choice_path
from .sinks import SinkOptions, open_sink
from .telemetry import STAGES, Telemetry

TARGETS_CPU = {"p50_ms": 35.0, "p99_ms": 60.0}
#: The sink every run writes to: pyvirtualcam's front end into a backend that converts and copies
#: the frame as the v4l2loopback and OBS backends do (``sinks.VirtualCameraStandIn``).
BENCH_SINK = "virtual-cam-standin"
BENCH_SINK_NOTE = ("every run writes through pyvirtualcam's real front end (`Camera.send`: shape "
                   "checks, format handling) into a backend that converts the frame to I420 and "
                   "copies it into a device-sized buffer, as the v4l2loopback and OBS backends do "
                   "(no virtual-camera device exists here)")
#: Results written before the stand-in existed have no "sink" entry: they used the null sink.
EARLIER_SINK_NOTE = ("a null sink that only checks the frame's shape (this result predates the "
                     "virtual-camera stand-in: the cost of a virtual-camera write is not in it)")
#: What the measured end-to-end latency (capture stamp → sink write returned) does not contain.
E2E_EXCLUDES = ("the camera's own latency before `read()` returns (exposure, sensor readout, USB "
                "transfer, driver buffering: it happens before the grabber stamps the frame), and "
                "what happens after the virtual camera is written (the call app's capture, encoding "
                "and network). The bench replays a clip behind the real camera source, so its "
                "camera latency is zero.")
CAMERA_LATENCY_NOTE = ("measure it once by filming a running clock on your screen with the camera "
                       "and comparing the clock with the frame that shows it, then add it.")
MIN_LAG_CORRELATION = 0.5   # below this a "best lag" is noise, not a measurement


@dataclass(frozen=True)
class BenchOptions:
    clip: Path
    out_dir: Path = Path("bench-out")
    target: str | None = None              # bundle folder; None = the embedded default
    engines: tuple[str, ...] | None = None  # None = every engine usable here
    frames: int = 300                      # frames per run (the clip loops)
    input_size: tuple[int, int] = (640, 480)
    output_size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    modes: tuple[str, ...] = tuple(s.value for s in Schedule)
    lag: bool = True                       # measure the expression lag (re-tracks the output)
    lag_frames: int = 240
    threads: int = 2                       # decoder threads
    ort_provider: str = "auto"             # the onnxruntime engine's execution provider
    opencv_threads: int = 1
    record_choice: bool = True             # remember the faster schedule for `live --mode auto`
    watermark: bool = True                 # the invisible watermark stage (as live; off: its cost)

    def validate(self) -> None:
        if self.frames < 10:
            raise ValueError("bench needs at least 10 frames per run")
        for m in self.modes:
            if m not in {s.value for s in Schedule}:
                raise ValueError(f"unknown schedule {m!r}; use serial and/or overlapped")
        if not self.modes:
            raise ValueError("give at least one schedule (--modes serial,overlapped)")
        if self.fps <= 0:
            raise ValueError("--fps must be > 0")
        if self.ort_provider not in PROVIDER_KEYS:
            raise ValueError(f"--ort-provider must be one of {', '.join(PROVIDER_KEYS)}; got {self.ort_provider!r}")


# --- machine ----------------------------------------------------------------------------------

def load_state(load_averages: list[list[float] | None], cores: int | None) -> str:
    """What the measured 1-minute load averages say about the machine during a run — a sentence
    derived from the numbers, never a fixed claim."""
    ones = [la[0] for la in load_averages if la]
    if not ones or not cores:
        return "load average not available on this system"
    worst = max(ones)
    per_core = worst / cores
    if per_core < 0.25:
        state = "quiet: little else was running"
    elif per_core < 0.75:
        state = "some other load on the cores"
    else:
        state = "busy: other processes competed for the cores, so latencies are pessimistic"
    return f"highest 1-minute load average {worst:.1f} on {cores} cores ({state})"


def cpu_name() -> str:
    """The CPU's model name for result files ("Intel(R) Xeon(R) ..."): shared VMs change CPU
    between runs, and "x86_64" cannot tell them apart. /proc/cpuinfo where there is one,
    ``platform.processor()`` elsewhere (a model name on Windows, the architecture on macOS)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """One line naming the machine in a benchmark's result file: CPU model, cores, OS."""
    return f"{cpu_name()}, {os.cpu_count()} logical cores, {platform.system()}"


def machine_info() -> dict:
    import importlib.metadata as md

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    cpu = cpu_name()
    try:
        from latentcam.engines.gpu import cuda_devices
        gpus = [f"{g.name} ({g.sm}, {g.memory_bytes / 2**30:.0f} GiB)" for g in cuda_devices()]
    except Exception as exc:  # discovery failing means no usable GPU; say why
        gpus = [f"unknown ({exc})"]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu, "logical_cores": os.cpu_count(),
        "gpus": gpus or ["none"],
        "load_average_at_start": list(load) if load else None,
        "versions": {"python": platform.python_version(), "latentcam": version("latentcam"),
                     "numpy": np.__version__, "opencv": cv2.__version__,
                     "mediapipe": version("mediapipe"), "onnxruntime": version("onnxruntime"),
                     "torch": version("torch"), "tensorrt-rtx": version("tensorrt-rtx")},
    }


def available_engines() -> tuple[list[str], dict[str, str]]:
    """Engines to bench here and why the others are skipped. GPU engines need a CUDA GPU; the
    torch backend's CPU fallback is not benchmarked (ONNX Runtime is the CPU engine)."""
    from latentcam.engines import availability
    from latentcam.engines.gpu import cuda_devices

    try:
        gpus = cuda_devices()
    except Exception:
        gpus = []
    chosen, skipped = ["onnxruntime"], {}
    for name, reason in availability().items():
        if name == "onnxruntime":
            continue
        if reason is not None:
            skipped[name] = reason
        elif not gpus:
            skipped[name] = "no CUDA GPU on this machine"
        else:
            chosen.append(name)
    return chosen, skipped


# --- one run ----------------------------------------------------------------------------------

def _stage_sum(tel: Telemetry) -> np.ndarray:
    total = np.zeros(tel.frames)
    for s in STAGES:
        v = tel.stage_ms(s)
        total += np.where(np.isfinite(v), v, 0.0)
    return total


class RecordingTracker:
    """Wraps the pipeline's tracker and keeps the driver's blendshapes per frame index (before
    smoothing), for the expression-lag measurement; the pipeline itself knows nothing of it."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.blendshapes: dict[int, np.ndarray | None] = {}

    def track(self, bgr: np.ndarray, frame_index: int, capture_time: float):
        result = self.tracker.track(bgr, frame_index, capture_time)
        self.blendshapes[frame_index] = None if result.face is None else result.face.blendshapes
        return result


def run_once(stages: Stages, frames: list[np.ndarray], opts: BenchOptions, *, mode: str, paced: bool,
             on_frame: Callable | None = None, total: int | None = None) -> dict:
    """One pipeline run into the virtual-camera stand-in at the output size (pyvirtualcam's
    front end + a backend that converts and copies each frame as a device write does);
    returns the summary + series."""
    total = total or opts.frames
    w, h = opts.output_size
    with ExitStack() as stack:
        if paced:
            source, device = replay_camera(frames, opts.fps, total)
            stop_when = lambda: device.exhausted  # noqa: E731
        else:
            source, stop_when = FramesSource(frames, total), None
        stack.enter_context(source)
        sink = stack.enter_context(open_sink(BENCH_SINK, SinkOptions(w, h, opts.fps)))
        if stages.smoother is not None:
            stages.smoother.reset()
        pipeline = LivePipeline(source, stages, [SinkBinding(sink, View.OUTPUT)],
                                PipelineOptions(mode=Schedule(mode), fps=opts.fps,
                                                max_frames=total if not paced else None,
                                                fill_after_s=10.0, lost_after_s=10.0),
                                on_frame=on_frame, stop_when=stop_when)
        tel = pipeline.run()
    summary = tel.summary()
    e2e = tel.e2e_ms()
    summary["offered_frames"] = total
    summary["missing_frames"] = total - summary["frames"]   # paced: dropped anywhere on the way
    summary["e2e_minus_stage_sum_min_ms"] = float(np.min(e2e - _stage_sum(tel))) if tel.frames else None
    summary["series"] = {"e2e_ms": np.round(e2e, 3).tolist(),
                         **{f"{s}_ms": np.round(np.nan_to_num(tel.stage_ms(s)), 3).tolist()
                            for s in ("track", "decode", "composite", "watermark", "sink")}}
    return summary


# --- expression lag ---------------------------------------------------------------------------

def _signals(blendshapes: np.ndarray) -> dict[str, np.ndarray]:
    from latentcam.facekit.blendshapes import INDEX

    return {"jawOpen": blendshapes[:, INDEX["jawOpen"]],
            "eyeBlink": (blendshapes[:, INDEX["eyeBlinkLeft"]] + blendshapes[:, INDEX["eyeBlinkRight"]]) / 2}


def best_lag(driver: np.ndarray, output: np.ndarray, max_lag: int = 15,
             min_lag: int = 0) -> tuple[int | None, float | None]:
    """Shift (frames, output behind driver > 0) maximising the Pearson correlation.

    The pipeline is causal (an output frame cannot show an expression before the driver made
    it), so by default only shifts >= 0 are searched; a peak at a negative shift would be noise.
    """
    best, best_r = None, None
    for lag in range(min_lag, max_lag + 1):
        a = driver[: len(driver) - lag] if lag >= 0 else driver[-lag:]
        b = output[lag:] if lag >= 0 else output[: len(output) + lag]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 20 or np.std(a[ok]) < 0.02 or np.std(b[ok]) < 0.02:
            continue
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        if best_r is None or r > best_r:
            best, best_r = lag, r
    return best, best_r


def expression_lag(driver_bs: list, outputs: list[np.ndarray], fps: float,
                   indices: list[int] | None = None) -> dict:
    """Re-track the output frames and correlate jawOpen / eyeBlink with the driver's.

    ``indices`` are the camera frame numbers of the frames (gaps = frames dropped on the way).
    """
    from latentcam.facekit.blendshapes import NUM_BLENDSHAPES
    from latentcam.facekit.tracker import FaceTracker

    indices = list(range(len(outputs))) if indices is None else [int(i) for i in indices]
    length = (max(indices) - min(indices) + 1) if indices else 0
    base = min(indices) if indices else 0
    drv = np.full((length, NUM_BLENDSHAPES), np.nan, np.float32)
    out = np.full((length, NUM_BLENDSHAPES), np.nan, np.float32)
    tracked = 0
    with FaceTracker() as tracker:
        for k, (i, img) in enumerate(zip(indices, outputs)):
            if driver_bs[k] is not None:
                drv[i - base] = driver_bs[k]
            r = tracker.track(img, i, i / fps)
            if r.face is not None:
                out[i - base] = r.face.blendshapes
                tracked += 1
    found = tracked / len(outputs) if outputs else 0.0
    result = {"output_face_fraction": found, "signals": {}}
    lags = []
    for name, d in _signals(drv).items():
        o = _signals(out)[name]
        lag, r = best_lag(d, o)
        result["signals"][name] = {"lag_frames": lag, "correlation": r}
        if lag is not None and r is not None and r > MIN_LAG_CORRELATION:
            lags.append(lag)
    if lags and found >= 0.5:
        frames = float(np.median(lags))
        result.update(lag_frames=frames, lag_ms=frames * 1000.0 / fps)
    else:
        result.update(lag_frames=None, lag_ms=None,
                      note="no reliable correlation (the output face was not tracked well enough "
                           "or the clip has too little jaw/blink motion)")
    return result


# --- the benchmark ----------------------------------------------------------------------------

def _config(opts: BenchOptions, engine: str) -> LiveConfig:
    w, h = opts.output_size
    values = {"engine.name": engine, "engine.threads": opts.threads,
              "engine.ort_provider": opts.ort_provider, "engine.opencv_threads": opts.opencv_threads, "output.size": f"{w}x{h}",
              "output.fps": opts.fps, "watermark.enabled": opts.watermark}
    if opts.target:
        values["target"] = opts.target
    return apply_overrides(LiveConfig(), values)


def _key(engine: str, mode: str, paced: bool) -> str:
    return f"{engine}/{mode}/{'paced' if paced else 'fast'}"


def run_bench(opts: BenchOptions, log: Callable[[str], None] = print) -> dict:
    opts.validate()
    configure_threads(opts.opencv_threads)
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, clip_fps = load_clip(opts.clip, opts.input_size, max_frames=opts.frames)
    engines, skipped = (list(opts.engines), {}) if opts.engines else available_engines()
    machine = machine_info()
    report: dict = {"options": {k: (str(v) if isinstance(v, Path) else v) for k, v in opts.__dict__.items()},
                    "machine": machine, "clip": {"path": opts.clip.name, "fps": clip_fps,
                                                 "frames_loaded": len(frames)},
                    "engines": engines, "skipped_engines": skipped, "runs": {}}
    runs = report["runs"]

    with ExitStack() as stack:
        base = build_stages(_config(opts, "onnxruntime"), stack, passthrough=True)
        report["target"] = base.target.name
        for paced in (True, False):
            key = _key("passthrough", Schedule.SERIAL, paced)
            log(f"[bench] {key}")
            runs[key] = run_once(base.stages, frames, opts, mode=Schedule.SERIAL, paced=paced)

    for engine in engines:
        with ExitStack() as stack:
            t0 = time.monotonic()
            built = build_stages(_config(opts, engine), stack, target=None)
            load_s = time.monotonic() - t0
            for mode in opts.modes:
                for paced in (True, False):
                    key = _key(engine, mode, paced)
                    log(f"[bench] {key}")
                    runs[key] = run_once(built.stages, frames, opts, mode=mode, paced=paced)
                    runs[key]["engine"] = built.stages.engine_name
                    runs[key]["engine_load_s"] = load_s

    # The schedule with the lower paced p99 (first engine = the default one here).
    default_engine = engines[0]
    paced_p99 = {m: runs[_key(default_engine, m, True)]["e2e_ms"]["p99"] for m in opts.modes}
    chosen = min(paced_p99, key=lambda m: paced_p99[m] if paced_p99[m] is not None else 1e9)
    report["schedule_choice"] = {"mode": chosen, "paced_p99_ms": paced_p99, "engine": default_engine}
    if opts.record_choice and len(opts.modes) > 1:
        path = mode_choice_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"mode": chosen, "paced_p99_ms": paced_p99,
                                    "date_utc": machine["date_utc"], "engine": default_engine}))
        report["schedule_choice"]["recorded_in"] = str(path)

    if opts.lag:
        log("[bench] expression lag (re-tracking the output)")
        driver_bs, outputs, indices = [], [], []
        recorder: RecordingTracker | None = None

        def keep(img, work):
            indices.append(work.clock.index)
            driver_bs.append(recorder.blendshapes.get(work.clock.index))
            outputs.append(cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2),
                                      interpolation=cv2.INTER_AREA))

        # Paced like a webcam, so the smoothing runs on real frame intervals; frames dropped
        # on the way leave gaps (by camera frame index) that the correlation skips.
        # The clip's last lag_frames frames: clips usually end in their most expressive part
        # (the default one goes from crying to laughing), and jaw motion is needed to measure.
        count = clip_frame_count(opts.clip)
        lag_clip, _ = load_clip(opts.clip, opts.input_size, max_frames=opts.lag_frames,
                                skip=max(0, count - opts.lag_frames))
        report["expression_lag_frames"] = {"first": max(0, count - opts.lag_frames),
                                           "count": len(lag_clip)}
        with ExitStack() as stack:
            built = build_stages(_config(opts, default_engine), stack)
            recorder = RecordingTracker(built.stages.tracker)
            run_once(replace(built.stages, tracker=recorder), lag_clip, opts, mode=chosen,
                     paced=True, on_frame=keep, total=len(lag_clip))
        del lag_clip
        report["expression_lag"] = expression_lag(driver_bs, outputs, opts.fps, indices)
        del outputs
    else:
        report["expression_lag"] = {"lag_ms": None, "note": "skipped (--no-lag)"}

    main = runs[_key(default_engine, chosen, True)]
    lag_ms = report["expression_lag"].get("lag_ms")
    audio = main["e2e_ms"]["p50"] + max(0.0, lag_ms or 0.0) if main["e2e_ms"]["p50"] else None
    report["audio_delay_ms"] = None if audio is None else round(audio)
    report["audio_delay_includes"] = "end-to-end p50 + expression lag (camera latency not measurable here)"
    report["sink"] = BENCH_SINK_NOTE
    report["e2e_excludes"] = E2E_EXCLUDES
    report["targets_cpu"] = _targets(main) if not any("GPU" in g for g in machine["gpus"]) else None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine["load_average_at_end"] = list(load) if load else None

    write_json(report, out_dir)
    plot_report(report, out_dir / "bench.png")
    md = markdown(report)
    (out_dir / "bench.md").write_text(md)
    report["markdown_summary"] = md
    log(f"[bench] wrote {out_dir / 'bench.json'}, bench.png, bench.md")
    return report


def write_json(report: dict, out_dir: Path) -> None:
    """``bench.json`` (every summary number, readable) and ``bench_series.json`` (the per-frame
    series behind the plots, compact)."""
    series = {k: r.get("series") for k, r in report["runs"].items()}
    slim = {**report, "runs": {k: {kk: vv for kk, vv in r.items() if kk != "series"}
                               for k, r in report["runs"].items()}}
    (out_dir / "bench.json").write_text(json.dumps(slim, indent=1))
    (out_dir / "bench_series.json").write_text(json.dumps(series, separators=(",", ":")))


def _targets(run: dict) -> dict:
    e = run["e2e_ms"]
    drops = run["dropped"] + run["source_dropped"]
    return {"no_drops": drops == 0, "drops": drops,
            "p50_ok": e["p50"] is not None and e["p50"] <= TARGETS_CPU["p50_ms"],
            "p99_ok": e["p99"] is not None and e["p99"] <= TARGETS_CPU["p99_ms"],
            "p50_ms": e["p50"], "p99_ms": e["p99"], "limits": TARGETS_CPU}


# --- output -----------------------------------------------------------------------------------

def _fmt(v, digits=1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _loads(load: list[float] | None) -> str:
    return "–" if not load else ", ".join(f"{x:.2f}" for x in load)


def markdown(report: dict) -> str:
    m = report["machine"]
    o = report["options"]
    lines = [
        "# latentcam pipeline benchmark", "",
        f"- date (UTC): {m['date_utc']}",
        f"- machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['os']}; GPU: {', '.join(m['gpus'])}",
        f"- load average (1, 5, 15 min) at start / end: {_loads(m['load_average_at_start'])} / "
        f"{_loads(m.get('load_average_at_end'))} — "
        + load_state([m["load_average_at_start"], m.get("load_average_at_end")], m["logical_cores"]),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- target: {report.get('target')}; clip: {report['clip']['path']} scaled to "
        f"{o['input_size'][0]}×{o['input_size'][1]}, output {o['output_size'][0]}×{o['output_size'][1]}, "
        f"{o['frames']} frames per run, paced runs at {o['fps']:g} fps behind the camera source",
        f"- invisible watermark: {'on' if o.get('watermark', True) else 'OFF (--no-watermark)'}",
        "",
        "| run | fps | e2e p50 | e2e p95 | e2e p99 | track p50 | decode p50 | composite p50 | watermark p50 "
        "| sink p50 | drops | interval σ ms | CPU % | first frame ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in report["runs"].items():
        st = r["stages_ms"]
        drops = r["dropped"] + r["source_dropped"]
        lines.append(
            f"| {key} | {_fmt(r['fps'])} | {_fmt(r['e2e_ms']['p50'])} | {_fmt(r['e2e_ms']['p95'])} | "
            f"{_fmt(r['e2e_ms']['p99'])} | {_fmt(st['track']['p50'])} | {_fmt(st['decode']['p50'])} | "
            f"{_fmt(st['composite']['p50'])} | {_fmt(st.get('watermark', {}).get('p50'), 2)} | "
            f"{_fmt(st['sink']['p50'], 2)} | {drops} | "
            f"{_fmt(r['sink_interval_ms'].get('std'))} | {_fmt(r['cpu_percent'], 0)} | {_fmt(r['first_frame_ms'], 0)} |")
    sc = report["schedule_choice"]
    lag = report["expression_lag"]
    lines += [
        "",
        "Latencies in ms. e2e = grabber capture stamp → return of the sink write (measured per frame). "
        "paced = webcam stand-in (newest frame wins, drops counted); fast = every frame, as fast as possible.",
        "",
        f"**Schedule**: {sc['mode']} (paced e2e p99: "
        + ", ".join(f"{k} {_fmt(v)} ms" for k, v in sc["paced_p99_ms"].items())
        + f") — the live default (`--mode auto`) on this machine.",
        f"**Expression lag** (driver vs re-tracked output, paced, "
        f"{report.get('expression_lag_frames', {}).get('count', '–')} frames from clip frame "
        f"{report.get('expression_lag_frames', {}).get('first', '–')}): {_fmt(lag.get('lag_ms'))} ms"
        + (f" ({lag['note']})" if lag.get("note") else
           " (" + ", ".join(f"{k}: lag {v['lag_frames']} frames, r={_fmt(v['correlation'], 2)}"
                            for k, v in lag.get("signals", {}).items()) + ")"),
        f"**Audio delay to set in OBS / the call app**: {report['audio_delay_ms']} ms "
        "(what is measured: end-to-end p50 + expression lag) plus your camera's own latency, "
        "which no timer here can see: " + CAMERA_LATENCY_NOTE,
        "",
        f"**Sink**: {report.get('sink', EARLIER_SINK_NOTE)}",
        f"**What the end-to-end figure leaves out**: {E2E_EXCLUDES}",
    ]
    t = report.get("targets_cpu")
    if t:
        ok = t["no_drops"] and t["p50_ok"] and t["p99_ok"]
        lines.append(
            f"**CPU targets** (paced 30 fps, no drops, p50 ≤ {t['limits']['p50_ms']:g} ms, p99 ≤ "
            f"{t['limits']['p99_ms']:g} ms): {'MET' if ok else 'NOT MET'} — drops {t['drops']}, p50 "
            f"{_fmt(t['p50_ms'])} ms, p99 {_fmt(t['p99_ms'])} ms.")
    if report["skipped_engines"]:
        lines.append("")
        lines.append("Engines not run here: " + "; ".join(f"{k}: {v.splitlines()[0]}"
                                                         for k, v in report["skipped_engines"].items()))
    return "\n".join(lines) + "\n"


def plot_report(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    paced = {k: r for k, r in runs.items() if k.endswith("/paced")}
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    ax = axes[0]
    names = list(paced)
    bottom = np.zeros(len(names))
    for s in STAGES:
        vals = np.array([paced[n]["stages_ms"][s]["p50"] or 0.0 for n in names])
        if vals.max() <= 0.05:
            continue
        ax.bar(range(len(names)), vals, bottom=bottom, label=s)
        bottom += vals
    ax.scatter(range(len(names)), [paced[n]["e2e_ms"]["p50"] or 0 for n in names], color="k",
               marker="_", s=600, label="e2e p50 (measured)", zorder=3)
    ax.set_xticks(range(len(names)), [n.replace("/paced", "") for n in names], rotation=20, ha="right")
    ax.set_ylabel("ms (p50)")
    ax.set_title("per-stage p50, paced")
    ax.legend(fontsize=7)
    ax = axes[1]
    for n in names:
        e = np.array(paced[n]["series"]["e2e_ms"])
        if e.size:
            ax.hist(e, bins=40, alpha=0.5, label=n.replace("/paced", ""))
    ax.set_xlabel("end-to-end ms")
    ax.set_title("end-to-end latency, paced")
    ax.legend(fontsize=7)
    ax = axes[2]
    for n in names:
        ax.plot(paced[n]["series"]["e2e_ms"], lw=0.8, label=n.replace("/paced", ""))
    ax.set_xlabel("frame")
    ax.set_ylabel("end-to-end ms")
    ax.set_title("latency over time, paced")
    ax.legend(fontsize=7)
    m = report["machine"]
    fig.suptitle(f"latentcam bench — {m['cpu']} ({m['logical_cores']} cores), GPU: {', '.join(m['gpus'])}, "
                 f"{m['date_utc']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


__all__ = ["BenchOptions", "run_bench", "run_once", "best_lag", "expression_lag", "machine_info",
           "machine_line", "cpu_name",
           "available_engines", "markdown"]
