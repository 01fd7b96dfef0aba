"""Building a live run from a ``LiveConfig``: target, stages, source and sinks, with cleanup.

``run_live`` is the one place where everything is opened, and its ``ExitStack`` closes
everything (camera, tracker, decoder, virtual camera, recording) on exit, whatever happened; a
recording, once closed, gets its Content Credentials there too. Thread counts are set here, at
the entry point, never at import.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2

from latentcam.calibration import RetargetedFace

from .audio_delay import AudioDelay, LatencyFollower
from .composite import Compositor
from .config import LiveConfig
from .label import SyntheticLabel
from .marking import WatermarkStage, sign_recording, signing_identity
from .overlay import Controls
from .pipeline import LivePipeline, PipelineOptions, Schedule
from .stages import SinkBinding, Stages
from .presence import NeutralFace, Presence
from .sinks import PreviewSink, SinkOptions, VideoFileSink, open_sink
from .smoothing import FaceSmoother
from .target import ExpressionEncoder, LiveTarget, load_live_target, make_retargeter
from .telemetry import Telemetry

log = logging.getLogger(__name__)

#: The schedule with the lower paced-30-fps e2e p99 in ``benchmarks/pipeline/`` on the 2-core
#: development machine (serial: when another process takes a core, the two overlapped threads
#: fight for the remaining one and its p99 triples); ``latentcam bench`` records its own
#: machine's pick (``mode_choice_path``), which ``--mode auto`` prefers.
DEFAULT_MODE = Schedule.SERIAL


def mode_choice_path() -> Path:
    from latentcam.facekit.user_dirs import user_cache_dir

    return user_cache_dir() / "pipeline_mode.json"


def resolve_mode(mode: str) -> Schedule:
    """'auto' → the bench's pick on this machine if recorded, else ``DEFAULT_MODE``."""
    if mode != "auto":
        return Schedule(mode)
    try:
        return Schedule(json.loads(mode_choice_path().read_text()).get("mode"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_MODE


def configure_threads(opencv_threads: int) -> None:
    """Process-wide thread settings; called by entry points only (never at import).

    OpenCV gets an explicit pool size. Python's GIL switch interval drops from 5 ms to 1 ms:
    with the tracking thread in Python code, the rendering thread coming back from ONNX Runtime
    would otherwise wait up to 5 ms for the GIL — directly added to the frame's latency.
    """
    import sys

    cv2.setNumThreads(int(opencv_threads))
    sys.setswitchinterval(0.001)


def resolve_engine(name: str) -> str:
    """'auto' without a CUDA GPU is ONNX Runtime (no torch import, no timing round)."""
    if name != "auto":
        return name
    from latentcam.engines.gpu import cuda_devices

    try:
        has_gpu = bool(cuda_devices())
    except Exception:  # discovery problems mean "no usable GPU"
        has_gpu = False
    return "auto" if has_gpu else "onnxruntime"


def retarget_options(config: LiveConfig):
    """``RetargetOptions`` from the ``[retarget]`` settings."""
    from latentcam.calibration import RetargetMode, RetargetOptions

    r = config.retarget
    return RetargetOptions(mode=RetargetMode(r.mode), sensitivity=r.sensitivity, mirror=r.mirror,
                           invert_yaw=r.invert_yaw, invert_pitch=r.invert_pitch,
                           invert_roll=r.invert_roll, lower_face_rig=r.lower_face_rig)


@dataclass
class Built:
    stages: Stages
    target: LiveTarget


def build_stages(config: LiveConfig, stack: ExitStack, target: LiveTarget | None = None,
                 passthrough: bool = False, output_size: tuple[int, int] | None = None,
                 on_event: Callable[[str], None] | None = None) -> Built:
    """Open every stage object (closed by ``stack``). ``passthrough``: only composite and label
    (the camera picture straight to the sinks: the bench's baseline)."""
    from latentcam.engines import BackendOptions, load_backend
    from latentcam.engines.model import DecoderModel
    from latentcam.facekit.tracker import FaceTracker

    target = target or load_live_target(config.target, require_signed=config.require_signed)
    width, height = output_size or config.output.width_height
    compositor = Compositor(config.composite, target.crop_size, (width, height),
                            plate=target.plate, plate_to_crop=target.plate_to_crop)
    label = SyntheticLabel(config.label)
    watermark = WatermarkStage(target.bundle.watermark_id, config.watermark)
    if passthrough:
        return Built(Stages(compositor=compositor, label=label, watermark=watermark), target)
    tracker = stack.enter_context(FaceTracker())
    retargeter = make_retargeter(target, config.profile, retarget_options(config))
    if retargeter.profile is None and on_event is not None:
        on_event("no calibration profile: self-calibrating from the first still, frontal second "
                 "(look at the camera with a relaxed face)")
    encoder = ExpressionEncoder(target.encoder_onnx, config.engine.encoder_threads)
    stack.callback(encoder.close)
    model = DecoderModel.from_bundle(target.bundle)
    decoder = load_backend(resolve_engine(config.engine.name), model,
                           BackendOptions(threads=config.engine.threads, precision=config.engine.precision,
                                          ort_provider=config.engine.ort_provider,
                                          verbose=on_event is not None))
    stack.callback(decoder.close)
    if compositor.awaits_rest_render:      # the plate fill, before the first live frame
        rest = RetargetedFace(target.neutral_points, target.neutral_pose, target.neutral_blendshapes)
        compositor.prepare(decoder.run(encoder.encode(rest)))
    neutral = NeutralFace(target.neutral_points, target.neutral_pose, target.neutral_blendshapes)
    stages = Stages(compositor=compositor, label=label, watermark=watermark, tracker=tracker,
                    smoother=FaceSmoother(config.smoothing), retarget=retargeter,
                    presence=Presence(neutral, config.presence, target.crop_size),
                    encoder=encoder, decoder=decoder)
    return Built(stages, target)


def open_live_source(config: LiveConfig, on_event: Callable[[str], None] | None = None):
    from latentcam.facekit.sources import (CameraOptions, CameraSource, FileOptions,
                                           VideoFileSource)

    s = config.source
    if s.clip:
        return VideoFileSource(Path(s.clip), FileOptions(paced=s.paced, loop=s.loop))
    return CameraSource(s.camera, CameraOptions(width=s.width, height=s.height, fps=s.fps,
                                                fourcc=s.fourcc or None), on_event=on_event)


def open_outputs(config: LiveConfig, stack: ExitStack, extra: list[SinkBinding] = (),
                 record_view: str = "output", controls: Controls | None = None) -> list[SinkBinding]:
    """The sinks the config asks for (virtual camera, recording, preview) plus ``extra``; the
    preview's keys change ``controls``."""
    o = config.output
    width, height = o.width_height
    outputs: list[SinkBinding] = []
    if o.virtual_cam:
        sink = stack.enter_context(open_sink("virtual-cam", SinkOptions(width, height, o.fps,
                                                                        device=o.device)))
        outputs.append(SinkBinding(sink, "output"))
    if o.record:
        rec_w = width * 2 if record_view == "side-by-side" else width
        sink = stack.enter_context(open_sink("file", SinkOptions(rec_w, height, o.fps,
                                                                 path=Path(o.record))))
        outputs.append(SinkBinding(sink, record_view))
    outputs.extend(extra)
    if o.preview:
        sink = stack.enter_context(PreviewSink(SinkOptions(width, height, o.fps), controls))
        outputs.append(SinkBinding(sink, "preview"))
    if not outputs:
        sink = stack.enter_context(open_sink("null", SinkOptions(width, height, o.fps)))
        outputs.append(SinkBinding(sink, "output"))
    return outputs


def controls_from(config: LiveConfig) -> Controls:
    return Controls(label=config.label.enabled, mode=config.composite.mode,
                    smoothing=config.smoothing.enabled, mirror_preview=config.output.mirror_preview)


def config_with_controls(config: LiveConfig, controls: Controls) -> LiveConfig:
    """The config updated with what the user toggled live (for saving back)."""
    from dataclasses import replace

    return replace(
        config,
        label=replace(config.label, enabled=controls.label),
        composite=replace(config.composite, mode=controls.mode),
        smoothing=replace(config.smoothing, enabled=controls.smoothing),
        output=replace(config.output, mirror_preview=controls.mirror_preview))


def pipeline_options(config: LiveConfig, mode: str | None = None, **kw) -> PipelineOptions:
    return PipelineOptions(mode=resolve_mode(mode or config.pipeline.mode), fps=config.output.fps,
                           track_fps=config.pipeline.track_fps,
                           status_interval_s=config.pipeline.status_interval_s, **kw)


def run_live(config: LiveConfig, *, source=None, extra_outputs: list[SinkBinding] = (),
             record_view: str = "output", mode: str | None = None, max_frames: int | None = None,
             on_status: Callable[[str], None] | None = None,
             on_event: Callable[[str], None] | None = None,
             on_pipeline: Callable[[LivePipeline], None] | None = None,
             on_frame=None, on_save=None, target: LiveTarget | None = None,
             on_signed: Callable | None = None) -> tuple[Telemetry, Controls, LivePipeline]:
    """Open everything for ``config``, run until the source ends or a stop is requested, close
    everything. ``on_pipeline`` receives the pipeline before it runs (to wire SIGINT);
    ``on_signed`` the recording's ``SignResult`` once it is closed and signed (or kept unsigned,
    with the reason in its ``warning``)."""
    configure_threads(config.engine.opencv_threads)
    # A certificate that cannot sign is an error now, not after the recording.
    identity = signing_identity(config.signing) if config.output.record else None
    recording: VideoFileSink | None = None
    built: Built | None = None
    try:
        with ExitStack() as stack:
            # Cheap things that fail for user reasons (no camera, no virtual camera, no display,
            # unwritable recording) are opened first, so the error comes before the slow loads.
            if source is None:
                source = open_live_source(config, on_event=on_event)
            stack.enter_context(source)
            controls = controls_from(config)
            outputs = open_outputs(config, stack, list(extra_outputs), record_view, controls)
            recording = next((b.sink for b in outputs if isinstance(b.sink, VideoFileSink)), None)
            telemetry = Telemetry(target_fps=config.output.fps)
            audio = open_audio_delay(config, stack, telemetry, on_event)
            built = build_stages(config, stack, target=target, on_event=on_event)
            if on_event is not None:
                on_event(_target_line(built.target, config))
            if audio is not None:
                on_frame = _both(on_frame, LatencyFollower(audio, telemetry, config.output.fps))
            pipeline = LivePipeline(source, built.stages, outputs,
                                    pipeline_options(config, mode, max_frames=max_frames),
                                    controls=controls, telemetry=telemetry, on_status=on_status,
                                    on_event=on_event, on_frame=on_frame, on_save=on_save)
            if on_pipeline is not None:
                on_pipeline(pipeline)
            pipeline.run()
    finally:
        # The stack has closed the recording (moov atom written): sign it, even after an error.
        if recording is not None and recording.frames_written and built is not None:
            result = sign_recording(recording.path, built.target.directory,
                                    watermark=config.watermark.enabled, identity=identity)
            if on_signed is not None:
                on_signed(result)
    return telemetry, controls, pipeline


def open_audio_delay(config: LiveConfig, stack: ExitStack, telemetry: Telemetry,
                     on_event: Callable[[str], None] | None = None) -> AudioDelay | None:
    """The ``--delay-audio`` virtual microphone (closed, and removed from the sound server, by
    ``stack``; its summary lands in ``telemetry.audio``), or None when not asked for."""
    if not config.audio.delay:
        return None
    audio = AudioDelay(config.audio)

    def closed() -> None:
        audio.close()
        telemetry.audio = audio.summary()
        error = telemetry.audio.get("relay_error")
        if error and on_event is not None:
            on_event(f"warning: the delayed microphone stopped: {error}")

    audio.open()            # on failure it has removed what it made; closed once, by ``closed``
    stack.callback(closed)
    if on_event is not None:
        on_event(audio.ready_message())
    return audio


def _both(first, second):
    """Two ``on_frame`` hooks as one (``first`` may be None)."""
    if first is None:
        return second

    def both(output, work):
        first(output, work)
        second(output, work)

    return both


def _target_line(target: LiveTarget, config: LiveConfig) -> str:
    signer = target.bundle.signer
    who = ("UNSIGNED" if signer is None else f"signed by {signer.subject}"
           + (" (local identity: not a trusted issuer)" if signer.local else ""))
    mark = "on" if config.watermark.enabled else "OFF (--no-watermark)"
    return (f"target {target.name} ({target.directory}): {who}; invisible watermark {mark}, "
            f"bundle id {target.bundle.watermark_id:08x}")


__all__ = ["DEFAULT_MODE", "run_live", "build_stages", "open_audio_delay", "open_live_source", "open_outputs",
           "resolve_mode", "configure_threads", "config_with_controls", "pipeline_options",
           "retarget_options"]
