"""The live loop, top to bottom as the README draws it:

    camera → track → smooth → retarget → encode → decode → composite → label → watermark → sinks

``LivePipeline.prepare`` is the first half (camera … encode), ``render`` the second (decode …
sinks); the stages and what each takes and gives are in ``stages.py``. Each stage stamps its
start/end on the frame's ``FrameClock``; ``Telemetry`` records end-to-end latency from the
grabber's capture stamp to the return of the last sink write.

Two schedules (``Schedule``):

* ``serial``: one thread does everything for a frame, then takes the next one.
* ``overlapped``: a tracking thread runs ``prepare`` for frame n+1 while the main thread runs
  ``render`` for frame n. The hand-off holds one item. For live sources the newest item wins
  (older ones are dropped and counted, so latency never builds up); for file sources the
  hand-off blocks, so every input frame yields exactly one output frame.

Sinks are written from the main thread (OpenCV windows must live there on macOS); the preview
sink handles its own keys (they change ``Controls``). When a live camera stops delivering, the
main thread keeps sending the last picture with a "camera lost" banner at the output rate, so
call apps never see the device vanish.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np

from latentcam.facekit.observation import FaceObservation
from latentcam.facekit.sources import Frame, FrameSource

from .composite import CompositeMode
from .overlay import Controls, OverlayInfo, draw_banner
from .presence import PresenceState
from .stages import CompositeStage, Outputs, SinkBinding, Stages, View
from .telemetry import FrameClock, Telemetry

log = logging.getLogger(__name__)


class Schedule(str, Enum):
    SERIAL = "serial"              # one thread, one frame at a time
    OVERLAPPED = "overlapped"      # prepare(n+1) on a tracking thread while render(n) runs

    def __str__(self) -> str:          # "serial" in messages and f-strings on every Python
        return self.value


@dataclass(frozen=True)
class PipelineOptions:
    mode: Schedule = Schedule.SERIAL
    fps: float = 30.0                    # output rate while the camera is lost
    track_fps: float = 0.0               # track at most this often (0 = every frame)
    lossless: bool | None = None         # None: lossless for file sources, newest-wins for live
    max_frames: int | None = None        # stop after this many input frames
    status_interval_s: float = 0.0       # print a status line this often (0 = never)
    fill_after_s: float = 0.25           # live: no frame for this long → re-send the last output
    lost_after_s: float = 1.0            # live: no frame for this long → "camera lost" banner

    def validate(self) -> None:
        try:
            Schedule(self.mode)
        except ValueError:
            raise ValueError(f"pipeline mode must be serial or overlapped; got {self.mode!r}") from None
        if self.fps <= 0 or self.track_fps < 0:
            raise ValueError("pipeline fps must be > 0 and track_fps >= 0")


@dataclass
class Work:
    """What the tracking half hands to the rendering half for one frame."""

    image: np.ndarray
    clock: FrameClock
    face: FaceObservation | None = None       # smoothed driver face (paste mode, reference)
    code: np.ndarray | None = None            # (1, Z) expression code
    motion: np.ndarray | None = None          # 2×3 head motion for the portrait
    state: PresenceState = PresenceState.IDLE


class _End:
    pass


END = _End()


class Handoff:
    """A one-slot hand-off between threads; ``lossless`` blocks the producer, else newest wins."""

    def __init__(self, lossless: bool):
        self.lossless = lossless
        self._item = None
        self._full = False
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item, stop: threading.Event) -> None:
        with self._cond:
            if self.lossless:
                while self._full and not stop.is_set() and not self.closed:
                    self._cond.wait(0.05)
            elif self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()

    def get(self, timeout: float):
        with self._cond:
            if not self._full:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class LivePipeline:
    """Runs frames from ``source`` through ``stages`` into ``outputs``. ``run()`` returns the
    telemetry; ``request_stop()`` (e.g. from a SIGINT handler) ends it cleanly.

    Callbacks to the application: ``on_status(line)`` (periodic status), ``on_event(message)``
    (calibration events), ``on_frame(output, work)`` (each output frame as sent), ``on_save``
    (the preview's save key), ``stop_when()`` (checked when no frame arrived).
    """

    def __init__(self, source: FrameSource, stages: Stages, outputs: list[SinkBinding],
                 options: PipelineOptions = PipelineOptions(), controls: Controls | None = None,
                 telemetry: Telemetry | None = None, on_status: Callable[[str], None] | None = None,
                 on_event: Callable[[str], None] | None = None,
                 on_frame: Callable[[np.ndarray, Work], None] | None = None,
                 on_save: Callable[[Controls], None] | None = None,
                 stop_when: Callable[[], bool] | None = None):
        options.validate()
        self.source = source
        self.stages = stages
        self.options = options
        self.controls = controls or Controls()
        self.telemetry = telemetry or Telemetry(target_fps=options.fps)
        self.on_status, self.on_event, self.on_frame = on_status, on_event, on_frame
        self.on_save, self.stop_when = on_save, stop_when
        self.lossless = (not source.is_live) if options.lossless is None else options.lossless
        self.compositing = CompositeStage(stages.compositor)
        # A live source keeps the unlabelled, unmarked picture for the camera-lost repeats.
        self.outputs = Outputs(outputs, stages.label, copy_before_label=source.is_live)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._last_track_t: float | None = None
        self._last_face: FaceObservation | None = None
        self._last_taken = -1e9
        self._last_picture: np.ndarray | None = None
        self._last_driver: np.ndarray | None = None
        self._last_write = 0.0
        self._last_status = 0.0
        self._state_text = ""

    # --- control -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or self.controls.quit

    # --- camera ------------------------------------------------------------------------------
    def _take(self, timeout: float):
        """Read one frame; returns a Frame, None (nothing yet) or END.

        A live source faster than the output rate (a 60 fps camera, ``--fps 30``) is thinned
        to the output rate here, before any work is spent on the extra frames.
        """
        frame = self.source.read(timeout=timeout)
        if frame is None:
            return END if self.source.finished and not self.source.is_live else None
        if not self.lossless:
            if frame.capture_time < self._last_taken + 0.75 / self.options.fps:
                self.telemetry.counters.dropped += 1
                return None
            self._last_taken = frame.capture_time
        return frame

    # --- the first half: track → smooth → retarget → encode --------------------------------
    def prepare(self, frame: Frame) -> Work:
        st, c, t = self.stages, self.controls, frame.capture_time
        clock = FrameClock(frame.index, t)
        clock.mark("capture", t, time.monotonic())
        self.telemetry.counters.frames_in += 1
        work = Work(frame.image, clock)
        if st.tracker is None:
            return work                                   # the camera alone (bench baseline)
        if c.recalibrate:
            self._recalibrate()

        with clock.stage("track"):
            due = (self.options.track_fps <= 0 or self._last_track_t is None
                   or t - self._last_track_t >= 1.0 / self.options.track_fps - 1e-3)
            if due:
                face = st.tracker.track(frame.image, frame.index, t).face
                self._last_track_t, self._last_face = t, face
            else:                                         # --track-fps: reuse the last result
                clock.tracked = False
                face = self._last_face
        if face is not None:
            self.telemetry.counters.faces += 1

        with clock.stage("smooth"):
            if st.smoother is not None and due:
                st.smoother.enabled = c.smoothing
                face = st.smoother(face, t)
                self._last_face = face

        with clock.stage("retarget"):
            # Called without a face too (None in, None out): a pending neutral capture sees the gap.
            target_face = st.retarget.process(face, t) if st.retarget is not None else None
            self._report_events()
            motion = None
            if face is not None and c.mode == CompositeMode.PORTRAIT:
                motion = st.compositor.head_motion(face.landmarks_px)
            if st.presence is not None:                   # hold, ease to neutral, idle
                target_face, motion, state = st.presence.update(target_face, motion, t)
            else:
                state = PresenceState.TRACKING if target_face is not None else PresenceState.IDLE

        with clock.stage("encode"):
            if target_face is not None and st.encoder is not None:
                work.code = st.encoder.encode(target_face)
        work.face, work.motion, work.state = face, motion, state
        return work

    def _recalibrate(self) -> None:
        st = self.stages
        self.controls.recalibrate = False
        if st.smoother is not None:
            st.smoother.reset()
        st.compositor.set_reference(None)
        if st.retarget is not None:
            st.retarget.recalibrate()
        if st.presence is not None:
            st.presence.reset()

    def _report_events(self) -> None:
        if self.stages.retarget is not None:
            for event in self.stages.retarget.poll_events():
                if self.on_event is not None:
                    self.on_event(event.message)

    # --- the second half: decode → composite → label → watermark → sinks ---------------------
    def render(self, work: Work) -> None:
        st, c, clock = self.stages, self.controls, work.clock
        with clock.stage("decode"):
            crop = None
            if work.code is not None and st.decoder is not None and not c.reveal:
                crop = st.decoder.run(work.code)
                if st.decoder.last_gpu_ms is not None:
                    clock.gpu_ms = st.decoder.last_gpu_ms
        with clock.stage("composite"):
            if st.decoder is None:                        # nothing rendered: the camera picture
                picture = st.compositor.driver_only(work.image)
            else:
                picture = self.compositing.composite(work.image, work.face, crop, work.motion, c)
        self._last_picture, self._last_driver = picture, work.image
        sent = self._write(picture, work.image, clock, work.state)
        if self.on_frame is not None:
            self.on_frame(sent, work)

    def _write(self, picture: np.ndarray, driver: np.ndarray | None, clock: FrameClock | None,
               state: PresenceState | None, lost: bool = False) -> np.ndarray:
        """label → watermark → sinks, each timed as its stage; then the preview's save key.
        Returns the output view as sent."""
        t_label = time.monotonic()
        self._state_text = self._state_label(state, lost)
        info = self._overlay_info() if self.outputs.has_overlay else None
        views = self.outputs.views(picture, driver, info, self.controls)
        t_mark = time.monotonic()
        for view in views.values():                       # each whole frame a sink writes
            self.stages.watermark.apply(view)
        t_sink = time.monotonic()
        self.outputs.send(views)
        done = time.monotonic()
        self._last_write = done
        if clock is not None:
            clock.mark("label", t_label, t_mark)
            clock.mark("watermark", t_mark, t_sink)
            clock.mark("sink", t_sink, done)
            self.telemetry.record(clock, done)
        else:
            self.telemetry.counters.frames_out += 1
        if self.controls.save:
            self.controls.save = False
            if self.on_save is not None:
                self.on_save(self.controls)
        self._maybe_status(done)
        return views[View.OUTPUT]

    def _state_label(self, state: PresenceState | None, lost: bool) -> str:
        if lost:
            return "CAMERA LOST - reconnecting"
        if self.controls.reveal:
            return "REAL CAMERA (reveal)"
        if state is PresenceState.HOLD or state is PresenceState.IDLE:
            return "no face"
        retarget = self.stages.retarget
        return (retarget.feedback if retarget is not None else None) or ""

    def _overlay_info(self) -> OverlayInfo:
        tel, c = self.telemetry, self.controls
        return OverlayInfo(fps=tel.recent_fps(), e2e_ms=tel.recent_e2e_ms(),
                           engine=self.stages.engine_name, state=self._state_text,
                           mode=c.mode, smoothing=c.smoothing, label=c.label)

    def _maybe_status(self, now: float) -> None:
        interval = self.options.status_interval_s
        if interval > 0 and self.on_status is not None and now - self._last_status >= interval:
            self._last_status = now
            self.on_status(self.telemetry.status_line(self.stages.engine_name, self._state_text))

    def _fill_gap(self, last_real: float) -> None:
        """A live source delivered nothing since ``last_real``: keep the sinks fed at the output
        rate with the last picture, marked "camera lost" once the source reports it (or after
        ``lost_after_s``), so call apps never see the virtual camera stall or vanish."""
        if not self.source.is_live:
            return
        now = time.monotonic()
        gap = now - last_real
        if gap < self.options.fill_after_s or now - self._last_write < 0.9 / self.options.fps:
            return
        lost = self.source.camera_lost or gap >= self.options.lost_after_s
        base = self._last_picture if self._last_picture is not None else self.stages.compositor.plate()
        picture = base.copy()
        if lost:
            draw_banner(picture, "camera lost - reconnecting")
        self.telemetry.counters.repeats += 1
        self._write(picture, self._last_driver, None, None, lost=lost)

    # --- schedules ---------------------------------------------------------------------------
    def run(self) -> Telemetry:
        stats = self.source.stats
        # Frames the grabber dropped while the stages were loading are not the pipeline's.
        drops_before = stats.frames_dropped
        self.telemetry.start()
        try:
            if self.options.mode == Schedule.OVERLAPPED and self.stages.tracker is not None:
                self._run_overlapped()
            else:
                self._run_serial()
        finally:
            self.telemetry.stop()
            self.telemetry.counters.source_dropped = stats.frames_dropped - drops_before
        if self._error is not None:
            raise self._error
        return self.telemetry

    def _limit_reached(self) -> bool:
        m = self.options.max_frames
        return m is not None and self.telemetry.counters.frames_in >= m

    def _run_serial(self) -> None:
        period = 1.0 / self.options.fps
        last_real = time.monotonic()
        while not self.stopping and not self._limit_reached():
            item = self._take(timeout=period)
            if item is END:
                break
            if item is None:
                if self.stop_when is not None and self.stop_when():
                    break
                self._fill_gap(last_real)
                continue
            self.render(self.prepare(item))
            last_real = time.monotonic()

    def _run_overlapped(self) -> None:
        handoff = Handoff(self.lossless)
        producer_stop = threading.Event()

        def produce() -> None:
            try:
                while not producer_stop.is_set() and not self.stopping and not self._limit_reached():
                    item = self._take(timeout=0.05)
                    if item is END:
                        break
                    if item is None:
                        if self.stop_when is not None and self.stop_when():
                            break
                        continue
                    work = self.prepare(item)
                    work.clock.begin("handoff")
                    handoff.put(work, producer_stop)
            except BaseException as exc:  # surfaced by the main thread
                self._error = exc
            finally:
                handoff.put(END, producer_stop)

        thread = threading.Thread(target=produce, name="latentcam-track", daemon=True)
        thread.start()
        period = 1.0 / self.options.fps
        last_real = time.monotonic()
        try:
            while not self.stopping:
                item = handoff.get(timeout=period)
                if item is END:
                    break
                if item is None:
                    if not thread.is_alive():
                        break
                    self._fill_gap(last_real)
                    continue
                item.clock.end("handoff")
                self.render(item)
                last_real = time.monotonic()
        finally:
            producer_stop.set()
            handoff.close()
            thread.join(timeout=5.0)
            self.telemetry.counters.dropped += handoff.dropped


__all__ = ["Controls", "END", "Handoff", "LivePipeline", "PipelineOptions", "Schedule", "SinkBinding",
           "Stages", "View", "Work"]
