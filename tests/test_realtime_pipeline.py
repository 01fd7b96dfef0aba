"""The live pipeline end to end on real clips, real MediaPipe, real ONNX Runtime and the real
pyvirtualcam front end (with an in-memory backend registered by the test)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from latentcam.realtime.config import LiveConfig, apply_overrides
from latentcam.realtime.label import SyntheticLabel
from latentcam.realtime.stages import SinkBinding
from latentcam.realtime.presence import PresenceState
from latentcam.realtime.session import run_live
from latentcam.realtime.sinks import SinkOptions, VirtualCameraSink

from support.camera import FakeCamera, opener_for
from support.sinks import KeepingSink
from support.virtualcam import memory_backend_registered


@pytest.fixture()
def vcam():
    with memory_backend_registered("latentcam-memory") as backend:
        yield backend


@pytest.fixture(scope="session")
def target_dir(live_target):
    return live_target


def _config(target_dir, **overrides) -> LiveConfig:
    base = {"target": str(target_dir), "engine.name": "onnxruntime", "source.paced": False}
    base.update(overrides)
    return apply_overrides(LiveConfig(), base)


def _read_all(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def _label_present(img: np.ndarray, label: SyntheticLabel) -> bool:
    x0, y0, x1, y1 = label.badge_rect(img.shape[1], img.shape[0])
    roi = img[y0:y1, x0:x1].astype(int).sum(axis=2) / 3
    dark = (roi < 70).mean()
    bright = (roi > 170).mean()
    return dark > 0.4 and bright > 0.04


@pytest.mark.parametrize("mode", ["serial", "overlapped"])
def test_clip_to_file_and_virtual_camera_lossless(tmp_path, target_dir, single_face_clip, vcam, mode):
    out = tmp_path / f"{mode}.mp4"
    cfg = _config(target_dir, **{"source.clip": str(single_face_clip), "output.record": str(out),
                                 "output.size": "640x360"})
    cam = VirtualCameraSink(SinkOptions(640, 360, 30, backend="latentcam-memory"))
    outputs = []
    tel, _, _ = run_live(cfg, mode=mode, extra_outputs=[SinkBinding(cam, "output")],
                         on_frame=lambda img, work: outputs.append(img.copy()))
    cam.close()
    frames = _read_all(out)
    assert len(frames) == 72                       # every input frame → exactly one output frame
    assert frames[0].shape == (360, 640, 3)
    backend = vcam.instances[-1]
    assert len(backend.frames) == 72 and backend.closed
    label = SyntheticLabel()
    assert all(_label_present(f, label) for f in backend.frames)
    assert _label_present(frames[-1], label)       # survives mp4 compression
    # The virtual camera got exactly what the pipeline produced, in BGR order.
    assert np.array_equal(backend.frames[10], outputs[10])
    s = tel.summary()
    assert s["frames"] == 72 and s["dropped"] == 0
    assert s["face_fraction"] == 1.0
    assert s["e2e_ms"]["p50"] > 0 and s["stages_ms"]["decode"]["p50"] > 0


def test_no_label_flag_and_paste_mode(tmp_path, target_dir, single_face_clip):
    cfg = _config(target_dir, **{"source.clip": str(single_face_clip), "label.enabled": False,
                                 "composite.mode": "paste", "output.size": "640x360"})
    outputs = []
    run_live(cfg, mode="serial", max_frames=12, on_frame=lambda img, work: outputs.append(img.copy()))
    assert len(outputs) == 12
    assert not any(_label_present(o, SyntheticLabel()) for o in outputs)
    # Paste mode keeps the driver's frame outside the face: compare a corner with the input.
    cap = cv2.VideoCapture(str(single_face_clip))
    ok, first = cap.read()
    cap.release()
    assert np.abs(outputs[0][:40, :40].astype(int) - first[:40, :40].astype(int)).mean() < 6


def test_face_leaves_output_eases_to_neutral_and_keeps_moving(target_dir, testdata):
    clip = testdata / "face_noface.mov"
    cfg = _config(target_dir, **{"source.clip": str(clip), "source.paced": True,
                                 "output.size": "480x270", "presence.hold_s": 0.3,
                                 "presence.ease_s": 0.8, "presence.blink_interval_s": 0.8,
                                 "presence.sway_shift": 0.05})
    states, codes, times, faces, motions = [], [], [], [], []

    def grab(img, work):
        states.append(work.state)
        codes.append(None if work.code is None else work.code.copy())
        times.append(work.clock.capture_time)
        faces.append(img.astype(np.int16))
        motions.append(None if work.motion is None else work.motion[:, 2].copy())

    run_live(cfg, mode="serial", on_frame=grab)
    assert len(states) == 169                         # no crash, every frame out
    lost = next(i for i, s in enumerate(states) if s is not PresenceState.TRACKING)
    assert 60 <= lost <= 80
    assert states[lost] is PresenceState.HOLD
    back = next((i for i in range(lost, len(states)) if states[i] is PresenceState.TRACKING),
                len(states))                         # a late false detection may end the gap
    idle = [i for i in range(lost, back) if states[i] is PresenceState.IDLE]
    assert len(idle) > 40, [s.value for s in states]
    # Every frame still renders a face (a code is always produced).
    assert all(c is not None for c in codes)
    # Eases: the code moves steadily from the last tracked expression towards the idle neutral.
    last_live = codes[lost - 1]
    settled = [i for i in idle if times[i] - times[lost] > 0.3 + 0.8 + 0.2]
    assert len(settled) > 20, (len(idle), times[idle[-1]] - times[lost])
    hold_dist = np.linalg.norm(codes[lost] - last_live)
    end_dist = np.linalg.norm(codes[settled[-1]] - last_live)
    assert hold_dist < 1e-4 < end_dist, (hold_dist, end_dist)  # held, then eased away
    # Keeps moving: idle frames are not a frozen image.
    drift = [np.abs(faces[i] - faces[settled[0]]).mean() for i in settled[1:]]
    assert max(drift) > 0.15 and sum(d > 0.05 for d in drift) >= 5, drift
    shifts = np.array([motions[i] for i in settled])
    assert np.ptp(shifts[:, 0]) > 1.0 or np.ptp(shifts[:, 1]) > 1.0   # the head drifts (px)
    assert len({round(float(np.linalg.norm(codes[i])), 4) for i in settled}) > 5


def test_camera_outage_keeps_frames_flowing(target_dir, single_face_clip, vcam):
    from latentcam.facekit.sources import CameraOptions, CameraSource

    camera = FakeCamera.from_clip(single_face_clip, size=(640, 480), fps=30.0)
    camera.outage(1.2, 2.0)          # "unplugged" from t=1.2 s to t=3.2 s
    events = []
    source = CameraSource(7, CameraOptions(stall_timeout_s=0.5, reopen_interval_s=0.2),
                          opener=opener_for(camera), on_event=events.append)
    cfg = _config(target_dir, **{"output.size": "640x360"})
    cam = VirtualCameraSink(SinkOptions(640, 360, 30, backend="latentcam-memory"))
    stop = {}

    def on_pipeline(p):
        timer = threading.Timer(5.0, p.request_stop)
        timer.daemon = True
        timer.start()
        stop["timer"] = timer

    tel, _, _ = run_live(cfg, source=source, mode="overlapped",
                         extra_outputs=[SinkBinding(cam, "output")], on_pipeline=on_pipeline)
    cam.close()
    backend = vcam.instances[-1]
    times = np.array(backend.times)
    assert times[-1] - times[0] > 4.0
    gaps = np.diff(times)
    assert gaps.max() < 0.4, f"the sink starved for {gaps.max():.2f} s"
    assert tel.counters.repeats >= 10                    # "camera lost" frames were sent
    assert any("lost" in e for e in events) and any("reopened" in e for e in events)
    assert source.stats.reopens >= 1
    # Real frames came back after the outage.
    assert camera.delivered > 30 * 1.2 + 15


@pytest.mark.parametrize("n", [600, pytest.param(4000, marks=pytest.mark.slow)])
def test_long_run_flat_memory_and_latency(target_dir, single_face_clip, n):
    """Thousands of frames: resident memory and latency must not grow."""
    import psutil

    from latentcam.realtime.replay import FramesSource

    clip_frames = FakeCamera.from_clip(single_face_clip, size=(320, 180)).frames

    proc = psutil.Process()
    rss = {}
    warm = n // 4

    def sample(img, work):
        if work.clock.index in (warm, n - 1):
            rss[work.clock.index] = proc.memory_info().rss

    cfg = _config(target_dir, **{"output.size": "320x180", "pipeline.track_fps": 10.0})
    # real frames from memory, as fast as the pipeline takes them (lossless)
    tel, _, _ = run_live(cfg, source=FramesSource(clip_frames, n), mode="serial", max_frames=n,
                         on_frame=sample)
    assert tel.frames == n
    growth_mb = (rss[n - 1] - rss[warm]) / 2**20
    assert growth_mb < 15, f"RSS grew by {growth_mb:.1f} MB over {n - warm} frames"
    e2e = tel.e2e_ms()
    early, late = np.median(e2e[warm:2 * warm]), np.median(e2e[-warm:])
    assert late < 1.5 * early + 5.0, f"latency grew from {early:.1f} to {late:.1f} ms"


def test_track_fps_tracks_less_but_renders_every_frame(target_dir, single_face_clip):
    from latentcam.realtime.replay import load_clip, replay_camera

    frames, _ = load_clip(single_face_clip, (640, 480), max_frames=30)
    source, device = replay_camera(frames, 30.0, 10_000)
    cfg = _config(target_dir, **{"output.size": "640x360", "pipeline.track_fps": 10.0})
    tracked = []

    def on_pipeline(p):
        timer = threading.Timer(2.5, p.request_stop)
        timer.daemon = True
        timer.start()

    stamps = []

    def seen(img, work):
        tracked.append(work.clock.tracked)
        stamps.append(work.clock.capture_time)

    tel, _, pipeline = run_live(cfg, source=source, mode="serial", on_pipeline=on_pipeline, on_frame=seen)
    assert len(tracked) > 30
    # At most 10 tracker runs per second of camera time, however many frames the machine kept up
    # with (a loaded machine drops frames, so more of the kept ones are due for tracking).
    span = stamps[-1] - stamps[0]
    assert sum(tracked) <= 10.0 * span + 2, (sum(tracked), span)
    rendered_fps = (len(tracked) - 1) / span
    if rendered_fps > 20:                        # well above 10 fps: most frames reuse the face
        assert sum(tracked) / len(tracked) < 0.6
    # Untracked frames reuse the last face: every frame still renders one.
    assert tel.summary()["face_fraction"] == 1.0


def test_fast_camera_is_thinned_to_the_output_rate(single_face_clip):
    """A 60 fps camera with --fps 30: every other frame is skipped before any work is done."""
    from latentcam.realtime.composite import CompositeOptions, Compositor
    from latentcam.realtime.label import SyntheticLabel
    from latentcam.realtime.marking import WatermarkStage
    from latentcam.realtime.pipeline import LivePipeline, PipelineOptions, Stages
    from latentcam.realtime.replay import load_clip, replay_camera
    from latentcam.realtime.sinks import NullSink

    frames, _ = load_clip(single_face_clip, (320, 240), max_frames=20)
    source, device = replay_camera(frames, 60.0, 120)
    sink = NullSink(SinkOptions(320, 180, 30))
    stages = Stages(compositor=Compositor(CompositeOptions(), 256, (320, 180)), label=SyntheticLabel(),
                    watermark=WatermarkStage(0x1234ABCD))
    with source:
        pipeline = LivePipeline(source, stages, [SinkBinding(sink, "output")],   # no tracker: the camera alone
                                PipelineOptions(fps=30.0),
                                stop_when=lambda: device.exhausted)
        tel = pipeline.run()
    s = tel.summary()
    assert 50 <= s["frames"] <= 70, s["frames"]             # ~60 of 120 camera frames
    assert 25 <= s["fps"] <= 35
    assert s["dropped"] + s["source_dropped"] >= 50


def test_preview_mirrors_the_picture_but_not_the_label(single_face_clip):
    """The preview is a mirror; the SYNTHETIC label (like the status overlay) is drawn after the
    mirror, so it reads the right way round at its configured place, while the output is unmirrored."""
    from latentcam.realtime.composite import CompositeOptions, Compositor
    from latentcam.realtime.label import LabelOptions
    from latentcam.realtime.marking import WatermarkStage
    from latentcam.realtime.pipeline import Controls, LivePipeline, PipelineOptions, Stages
    from latentcam.realtime.replay import FramesSource, load_clip

    frames, _ = load_clip(single_face_clip, (640, 360), max_frames=3)
    label = SyntheticLabel(LabelOptions(position="top-right"))
    stages = Stages(compositor=Compositor(CompositeOptions(), 256, (640, 360)), label=label,
                    watermark=WatermarkStage(0x1234ABCD))
    out, preview = KeepingSink(SinkOptions(640, 360, 30)), KeepingSink(SinkOptions(640, 360, 30))
    with FramesSource(frames, 3) as source:
        LivePipeline(source, stages, [SinkBinding(out, "output"), SinkBinding(preview, "preview")],
                     PipelineOptions(), controls=Controls(mirror_preview=True)).run()
    x0, y0, x1, y1 = label.badge_rect(640, 360)
    o, p = out.frames[-1].astype(int), preview.frames[-1].astype(int)
    assert _label_present(out.frames[-1], label) and _label_present(preview.frames[-1], label)
    badge_out, badge_prev = o[y0:y1, x0:x1].mean(axis=2), p[y0:y1, x0:x1].mean(axis=2)

    def corr(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert corr(badge_prev, badge_out) > 0.9 > corr(badge_prev, badge_out[:, ::-1]) + 0.2
    # below the badge the picture itself is mirrored
    assert np.abs(p[200:300, 100:200] - o[200:300, 440:540][:, ::-1]).mean() < 3
