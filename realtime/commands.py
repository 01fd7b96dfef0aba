"""CLI commands of this subpackage: ``live``, ``demo`` and ``bench`` (registered by latentcam.cli).

Argument parsing stays thin: flags become dotted config overrides (only the flags the user typed,
so a ``--config`` file's values survive), everything else is library code.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from latentcam.facekit.errors import options_checked


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _sigint_stops(get_pipeline):
    """First Ctrl-C asks the pipeline to stop (sinks are then closed and the recording
    finalised); a second one interrupts for real."""
    previous = signal.getsignal(signal.SIGINT)
    hits = {"n": 0}

    def handler(signum, frame):
        hits["n"] += 1
        pipeline = get_pipeline()
        if hits["n"] == 1 and pipeline is not None:
            _err("\nstopping (Ctrl-C again to force)…")
            pipeline.request_stop()
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _status_printer():
    tty = sys.stderr.isatty()

    def show(line: str) -> None:
        if tty:
            sys.stderr.write("\r" + line.ljust(100)[:100])
            sys.stderr.flush()
        else:
            sys.stderr.write(line + "\n")

    return show


def _summary_text(summary: dict) -> str:
    e2e = summary["e2e_ms"]
    if not e2e.get("n"):
        return "no frames were processed"
    stages = summary["stages_ms"]
    parts = [f"{k} {v['p50']:.1f}" for k, v in stages.items() if v.get("p50") is not None and v["p50"] > 0.05]
    fps = summary["fps"]
    lines = [
        f"frames {summary['frames']}  fps {fps:.1f}" if fps else f"frames {summary['frames']}",
        f"end-to-end latency (capture → sink write): p50 {e2e['p50']:.1f} ms  p95 {e2e['p95']:.1f} ms  "
        f"p99 {e2e['p99']:.1f} ms  max {e2e['max']:.1f} ms",
        "stage p50 ms: " + "  ".join(parts),
        f"dropped {summary['dropped'] + summary['source_dropped']}  camera-lost repeats {summary['repeats']}  "
        f"CPU {summary['cpu_percent']:.0f}% of one core" if summary.get("cpu_percent") is not None else "",
    ]
    return "\n".join(line for line in lines if line)


def _build_config(config_path: Optional[Path], overrides: dict):
    from .config import LiveConfig, apply_overrides, load_config

    base = load_config(config_path) if config_path else LiveConfig()
    return apply_overrides(base, {k: v for k, v in overrides.items() if v is not None})


def _run(config, *, mode, record_view="output", save_path=None, max_frames=None, quiet=False):
    """Run a configured session with SIGINT handling, status line and --stats."""
    from .session import config_with_controls, run_live
    from .config import save_config

    holder = {}
    status = None if quiet else _status_printer()

    def on_save(controls):
        path = save_path or Path("latentcam-live.toml")
        save_config(config_with_controls(config, controls), path)
        _err(f"\nsettings saved to {path}")

    with _sigint_stops(lambda: holder.get("p")):
        telemetry, controls, pipeline = run_live(
            config, mode=mode, record_view=record_view, max_frames=max_frames,
            on_status=status, on_event=lambda m: _err(m),
            on_pipeline=lambda p: holder.__setitem__("p", p), on_save=on_save,
            on_signed=_report_signed)
    if status is not None and sys.stderr.isatty():
        sys.stderr.write("\n")
    return telemetry, controls, pipeline


def _report_signed(result) -> None:
    """Say whether the recording carries Content Credentials, and the caveat or the reason."""
    if result.signed:
        _err(f"{result.path}: Content Credentials (C2PA) signed by {result.signer}")
        if result.warning:
            _err(f"note: {result.warning}")
    else:
        _err(f"warning: {result.warning}")


def _provenance_overrides(no_watermark: bool, sign_cert: Optional[Path], sign_key: Optional[Path],
                          require_signed: bool) -> dict:
    return {"watermark.enabled": False if no_watermark else None,
            "signing.cert": str(sign_cert) if sign_cert else None,
            "signing.key": str(sign_key) if sign_key else None,
            "require_signed": True if require_signed else None}


_NO_WATERMARK_HELP = ("Remove the invisible watermark from every frame (it is independent of the label; "
                      "the recording's Content Credentials say it is off).")
_SIGN_CERT_HELP = "Certificate chain (PEM, signing certificate first) for the recording's Content Credentials."
_SIGN_KEY_HELP = "Its private key (PEM). Without both: the local signing identity (not a trusted issuer)."
_REQUIRE_SIGNED_HELP = "Refuse a target bundle that is not signed."
_ORT_PROVIDER_HELP = ("ONNX Runtime execution provider for the onnxruntime engine: auto (the best one "
                      "installed; `latentcam engines` lists them) | cpu | tensorrt | cuda | migraphx | rocm | "
                      "directml | coreml | openvino.")


def register(app: typer.Typer) -> None:
    """Add ``live``, ``demo`` and ``bench`` to ``app``."""

    @app.command()
    def live(
        target: Optional[Path] = typer.Option(None, "--target", help="Target bundle folder (default: the embedded target)."),
        camera: Optional[int] = typer.Option(None, "--camera", help="Camera index (default 0)."),
        source: Optional[Path] = typer.Option(None, "--source", help="Drive from a video file instead of a camera."),
        loop: Optional[bool] = typer.Option(None, "--loop/--no-loop", help="Loop --source."),
        paced: Optional[bool] = typer.Option(None, "--paced/--fast", help="--source at its frame rate (webcam-like) or as fast as possible."),
        engine: Optional[str] = typer.Option(None, "--engine", help="auto | tensorrt | tensorrt-rtx | torch | onnxruntime"),
        virtual_cam: Optional[bool] = typer.Option(None, "--virtual-cam/--no-virtual-cam", help="Publish to a virtual camera."),
        device: Optional[str] = typer.Option(None, "--device", help="Virtual camera device (e.g. /dev/video10)."),
        preview: Optional[bool] = typer.Option(None, "--preview/--no-preview", help="Show a preview window (keys: c r l m s f w q)."),
        record: Optional[Path] = typer.Option(None, "--record", help="Also record the output to this mp4."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Calibration profile (default: self-calibrate)."),
        size: Optional[str] = typer.Option(None, "--size", help="Output size WxH (default 1280x720)."),
        fps: Optional[float] = typer.Option(None, "--fps", help="Output frame rate (default 30)."),
        track_fps: Optional[float] = typer.Option(None, "--track-fps", help="Track at most this often to save CPU (0 = every frame)."),
        threads: Optional[int] = typer.Option(None, "--threads", help="Decoder CPU threads (ONNX Runtime)."),
        ort_provider: Optional[str] = typer.Option(None, "--ort-provider", help=_ORT_PROVIDER_HELP),
        mode: Optional[str] = typer.Option(None, "--mode", help="Pipeline schedule: auto | serial | overlapped."),
        composite: Optional[str] = typer.Option(None, "--composite", help="portrait | paste."),
        no_label: bool = typer.Option(False, "--no-label", help="Remove the SYNTHETIC label (be honest with your audience)."),
        label_position: Optional[str] = typer.Option(None, "--label-position", help="top-left | top-right | bottom-left | bottom-right."),
        label_opacity: Optional[float] = typer.Option(None, "--label-opacity", help="0..1"),
        no_watermark: bool = typer.Option(False, "--no-watermark", help=_NO_WATERMARK_HELP),
        sign_cert: Optional[Path] = typer.Option(None, "--sign-cert", help=_SIGN_CERT_HELP),
        sign_key: Optional[Path] = typer.Option(None, "--sign-key", help=_SIGN_KEY_HELP),
        require_signed: bool = typer.Option(False, "--require-signed", help=_REQUIRE_SIGNED_HELP),
        no_smoothing: bool = typer.Option(False, "--no-smoothing", help="Disable One Euro smoothing."),
        retarget_mode: Optional[str] = typer.Option(None, "--retarget-mode", help="relative (default) | absolute."),
        sensitivity: Optional[float] = typer.Option(None, "--sensitivity", help="Expression gain in (0, 10] (default: the profile's, else 1)."),
        mirror_face: bool = typer.Option(False, "--mirror-face", help="Swap the driver's left and right (not the preview mirror)."),
        invert_yaw: bool = typer.Option(False, "--invert-yaw", help="Turn the target's head the other way."),
        invert_pitch: bool = typer.Option(False, "--invert-pitch", help="Nod the target's head the other way."),
        invert_roll: bool = typer.Option(False, "--invert-roll", help="Tilt the target's head the other way."),
        lower_face_rig: Optional[float] = typer.Option(
            None, "--lower-face-rig", min=0.0, max=1.0,
            help="Share of the target's lips and jaw placed from your blendshapes by the target's own rig "
                 "(default 1; 0 = moved by your landmarks)."),
        config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (flags override it)."),
        save_config_to: Optional[Path] = typer.Option(None, "--save-config", help="Write the final settings (incl. live changes) here on exit."),
        stats: Optional[Path] = typer.Option(None, "--stats", help="Write telemetry JSON here on exit."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
        delay_audio: Optional[str] = typer.Option(
            None, "--delay-audio", metavar="[MIC]",
            help="Lip sync (Linux): create the microphone \"latentcam mic\", which plays MIC (default: "
                 "the default microphone) delayed by the live end-to-end latency; pick it in the call app."),
    ):
        """Reenact the target from your camera into a virtual camera, preview and/or recording."""
        from .config import save_config
        from .session import config_with_controls

        overrides = {
            "target": str(target) if target else None, "profile": str(profile) if profile else None,
            "stats": str(stats) if stats else None,
            "source.camera": camera, "source.clip": str(source) if source else None,
            "source.loop": loop, "source.paced": paced,
            "engine.name": engine, "engine.threads": threads, "engine.ort_provider": ort_provider,
            "output.virtual_cam": virtual_cam, "output.device": device, "output.preview": preview,
            "output.record": str(record) if record else None, "output.size": size, "output.fps": fps,
            "pipeline.track_fps": track_fps, "pipeline.mode": mode, "composite.mode": composite,
            "label.enabled": False if no_label else None, "label.position": label_position,
            "label.opacity": label_opacity, "smoothing.enabled": False if no_smoothing else None,
            "retarget.mode": retarget_mode, "retarget.sensitivity": sensitivity,
            "retarget.mirror": True if mirror_face else None,
            "retarget.invert_yaw": True if invert_yaw else None,
            "retarget.invert_pitch": True if invert_pitch else None,
            "retarget.invert_roll": True if invert_roll else None,
            "retarget.lower_face_rig": lower_face_rig,
            **_provenance_overrides(no_watermark, sign_cert, sign_key, require_signed),
            "audio.delay": True if delay_audio is not None else None, "audio.mic": delay_audio,
        }
        cfg = _build_config(config, overrides)      # ConfigError → latentcam.cli (exit 2)
        if not (cfg.output.virtual_cam or cfg.output.preview or cfg.output.record):
            _err("note: no output chosen (--virtual-cam, --preview or --record); running for the "
                 "status line only")
        if not cfg.label.enabled:
            _err("note: the SYNTHETIC label is off (--no-label). Tell your audience the video is synthetic.")
        if not cfg.watermark.enabled:
            _err("note: the invisible watermark is off (--no-watermark): machines cannot recognise this "
                 "output as synthetic.")
        telemetry, controls, pipeline = _run(cfg, mode=None, save_path=save_config_to or config,
                                             max_frames=max_frames)
        summary = telemetry.summary()
        _err(_summary_text(summary))
        if cfg.stats:
            telemetry.write_json(cfg.stats, {"engine": pipeline.stages.engine_name,
                                             "mode": pipeline.options.mode, "config": _cfg_dict(cfg)})
            _err(f"telemetry written to {cfg.stats}")
        if save_config_to:
            save_config(config_with_controls(cfg, controls), save_config_to)
            _err(f"settings written to {save_config_to}")

    @app.command()
    def demo(
        out: Path = typer.Option(Path("demo.mp4"), "--out", help="Side-by-side video to write."),
        clip: Optional[Path] = typer.Option(None, "--clip", help="Driver clip (default: the sample clip)."),
        target: Optional[Path] = typer.Option(None, "--target", help="Target bundle (default: embedded)."),
        engine: str = typer.Option("auto", "--engine", help="auto | onnxruntime | torch | tensorrt | tensorrt-rtx"),
        ort_provider: str = typer.Option("auto", "--ort-provider", help=_ORT_PROVIDER_HELP),
        virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Also publish to a virtual camera."),
        size: str = typer.Option("1280x720", "--size", help="Output size WxH."),
        mode: str = typer.Option("auto", "--mode", help="auto | serial | overlapped"),
        no_watermark: bool = typer.Option(False, "--no-watermark", help=_NO_WATERMARK_HELP),
        sign_cert: Optional[Path] = typer.Option(None, "--sign-cert", help=_SIGN_CERT_HELP),
        sign_key: Optional[Path] = typer.Option(None, "--sign-key", help=_SIGN_KEY_HELP),
        require_signed: bool = typer.Option(False, "--require-signed", help=_REQUIRE_SIGNED_HELP),
    ):
        """The embedded target driven by the sample clip → demo.mp4 (driver | output), marked and
        signed (Content Credentials), + latency summary."""
        from .config import LiveConfig, apply_overrides

        if clip is None:
            from latentcam.facekit.samples import DEMO_CLIP, require_samples

            clip = require_samples([DEMO_CLIP], "the demo", "pass --clip YOUR_VIDEO.mp4")[0]
        cfg = apply_overrides(LiveConfig(), {
            "source.clip": str(clip), "source.paced": True, "engine.name": engine,
            "engine.ort_provider": ort_provider,
            "output.record": str(out), "output.size": size, "output.virtual_cam": virtual_cam,
            "pipeline.mode": mode, **({"target": str(target)} if target else {}),
            **{k: v for k, v in _provenance_overrides(no_watermark, sign_cert, sign_key, require_signed).items()
               if v is not None}})
        telemetry, _, pipeline = _run(cfg, mode=None, record_view="side-by-side")
        typer.echo(f"wrote {out} (driver | output, {telemetry.frames} frames, "
                   f"{pipeline.options.mode} pipeline, {pipeline.stages.engine_name})")
        typer.echo(_summary_text(telemetry.summary()))

    @app.command()
    def bench(
        clip: Optional[Path] = typer.Option(None, "--clip", help="Driver clip (default: the sample clips)."),
        engines: Optional[str] = typer.Option(None, "--engines", help="Comma-separated engines (default: every available one)."),
        out: Path = typer.Option(Path("bench-out"), "--out", help="Folder for JSON, PNG and markdown."),
        target: Optional[Path] = typer.Option(None, "--target", help="Target bundle (default: embedded)."),
        frames: int = typer.Option(300, "--frames", help="Frames per run (the clip loops)."),
        input_size: str = typer.Option("640x480", "--input-size", help="Camera frame size the clip is scaled to."),
        size: str = typer.Option("1280x720", "--size", help="Output size."),
        fps: float = typer.Option(30.0, "--fps", help="Paced (webcam) frame rate."),
        modes: str = typer.Option("serial,overlapped", "--modes", help="Schedules to compare."),
        no_lag: bool = typer.Option(False, "--no-lag", help="Skip the expression-lag measurement."),
        threads: int = typer.Option(2, "--threads", help="Decoder CPU threads (ONNX Runtime)."),
        ort_provider: str = typer.Option("auto", "--ort-provider", help=_ORT_PROVIDER_HELP),
        record_choice: bool = typer.Option(True, "--record-choice/--no-record-choice",
                                           help="Remember the faster schedule as this machine's live default."),
        no_watermark: bool = typer.Option(False, "--no-watermark",
                                          help="Run without the invisible watermark (to measure what it costs)."),
    ):
        """Benchmark the whole pipeline: per-stage and end-to-end latency, paced and as fast as possible."""
        from .bench import BenchOptions, run_bench
        from .config import parse_size

        if clip is None:
            from latentcam.facekit.samples import BENCH_CLIPS, find_sample, require_samples

            found = [p for p in map(find_sample, BENCH_CLIPS) if p is not None]
            clip = found[0] if found else require_samples(BENCH_CLIPS[:1], "the bench", "pass --clip VIDEO")[0]
        with options_checked():
            opts = BenchOptions(
                clip=Path(clip), out_dir=out, target=str(target) if target else None,
                engines=tuple(e.strip() for e in engines.split(",")) if engines else None,
                frames=frames, input_size=parse_size(input_size), output_size=parse_size(size),
                fps=fps, modes=tuple(m.strip() for m in modes.split(",")), lag=not no_lag, threads=threads,
                ort_provider=ort_provider,
                record_choice=record_choice, watermark=not no_watermark)
            opts.validate()
        with _sigint_stops(lambda: None):
            report = run_bench(opts, log=_err)
        typer.echo(report["markdown_summary"])


def _cfg_dict(cfg) -> dict:
    from .config import config_to_dict
    return config_to_dict(cfg)
