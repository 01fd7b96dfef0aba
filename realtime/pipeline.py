"""The live loop: capture → track → smooth → retarget → features → encode → decode → composite
→ label → sinks, serial or overlapped.

Wiring is explicit, stage by stage (``Stages``); each stage stamps its start/end on the frame's
``FrameClock`` and ``Telemetry`` records end-to-end latency from the grabber's capture stamp to
the return of the last sink write.

Two schedules:

* ``serial``: one thread does everything for a frame, then takes the next one.
* ``overlapped``: a tracking thread runs capture → … → encode for frame n+1 while the main thread
  decodes, composites and writes frame n. The hand-off holds one item. For live sources the newest
  item wins (older ones are dropped and counted, so latency never builds up); for file sources
  the hand-off blocks, so every input frame yields exactly one output frame.

Sinks are written from the main thread (OpenCV windows must live there on macOS). When a live
camera stops delivering, the main thread keeps sending the last output with a "camera lost"
banner at the output rate, so call apps never see the device vanish.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from latentcam.facekit.observation import FaceObservation

from .composite import Compositor
from .label import SyntheticLabel
from .overlay import OverlayInfo, draw_overlay, draw_banner, side_by_side
from .presence import Presence, PresenceState
from .sinks import Sink
from .smoothing import FaceSmoother
from .telemetry import FrameClock, Telemetry

log = logging.getLogger(__name__)

VIEWS = ("output", "preview", "side-by-side")


@dataclass(frozen=True)
class PipelineOptions:
    mode: str = "serial"                 # "serial" or "overlapped"
    fps: float = 30.0                    # output rate while the camera is lost
    track_fps: float = 0.0               # track at most this often (0 = every frame)
    passthrough: bool = False            # capture straight to the sinks (bench baseline)
    lossless: bool | None = None         # None: lossless for file sources, newest-wins for live
    max_frames: int | None = None        # stop after this many input frames
    status_interval_s: float = 0.0       # print a status line this often (0 = never)
    fill_after_s: float = 0.25           # live: no frame for this long → re-send the last output
    lost_after_s: float = 1.0            # live: no frame for this long → "camera lost" banner

    def validate(self) -> None:
        if self.mode not in ("serial", "overlapped"):
            raise ValueError(f"pipeline mode must be serial or overlapped; got {self.mode!r}")
        if self.fps <= 0 or self.track_fps < 0:
            raise ValueError("pipeline fps must be > 0 and track_fps >= 0")


@dataclass
class Controls:
    """Live switches (preview keys change them; the tracking thread reads them)."""

    reveal: bool = False                 # show the real camera instead of the synthetic output
    label: bool = True
    mode: str = "portrait"               # compositing mode
    smoothing: bool = True
    mirror_preview: bool = True
    recalibrate: bool = False            # set by the key; the tracking thread clears it
    save: bool = False                   # set by the key; the main thread saves the settings
    quit: bool = False
    changed: bool = False                # anything toggled (offer to save the config)


@dataclass
class Stages:
    """The stage objects, built by the caller (``session.build_stages``)."""

    tracker: object | None = None                   # facekit FaceTracker
    smoother: FaceSmoother | None = None
    retarget: Callable | None = None                # (FaceObservation, t) → retargeted face | None
    presence: Presence | None = None
    encode: Callable | None = None                  # retargeted face → code (1, Z)
    decoder: object | None = None                   # engines DecoderBackend
    compositor: Compositor | None = None
    label: SyntheticLabel | None = None
    engine_name: str = ""
    on_recalibrate: Callable[[], None] | None = None
    feedback: Callable[[], str | None] | None = None  # calibration hint for the overlay


@dataclass
class Work:
    """What the tracking half hands to the rendering half for one frame."""

    image: np.ndarray
    clock: FrameClock
    face: FaceObservation | None = None       # smoothed driver face (paste mode, reference)
    raw_blendshapes: np.ndarray | None = None  # tracker output before smoothing (bench lag)
    code: np.ndarray | None = None
    motion: np.ndarray | None = None
    state: PresenceState = PresenceState.IDLE


@dataclass
class SinkBinding:
    sink: Sink
    view: str = "output"                 # output | preview | side-by-side


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
    telemetry; ``request_stop()`` (e.g. from a SIGINT handler) ends it cleanly."""

    def __init__(self, source, stages: Stages, outputs: list[SinkBinding],
                 options: PipelineOptions = PipelineOptions(), controls: Controls | None = None,
                 telemetry: Telemetry | None = None, on_status: Callable[[str], None] | None = None,
                 on_frame: Callable[[np.ndarray, Work], None] | None = None,
                 on_save: Callable[[Controls], None] | None = None,
                 stop_when: Callable[[], bool] | None = None):
        options.validate()
        for b in outputs:
            if b.view not in VIEWS:
                raise ValueError(f"unknown view {b.view!r}; choose one of {', '.join(VIEWS)}")
        self.source = source
        self.stages = stages
        self.outputs = outputs
        self.options = options
        self.controls = controls or Controls()
        self.telemetry = telemetry or Telemetry(target_fps=options.fps)
        self.on_status = on_status
        self.on_frame = on_frame
        self.on_save = on_save
        self.stop_when = stop_when     # checked when no frame arrived (e.g. a replay ran out)
        self._stop = threading.Event()
        self._last_track_t: float | None = None
        self._last_face: FaceObservation | None = None
        self._last_output: np.ndarray | None = None
        self._last_write = 0.0
        self._last_taken = -1e9
        self._paste_at: np.ndarray | None = None      # last driver landmarks (paste mode)
        self._last_driver: np.ndarray | None = None
        self._last_status = 0.0
        self._state_text = ""
        self._error: BaseException | None = None
        self._is_live = bool(getattr(source, "is_live", False))
        lossless = options.lossless
        if lossless is None:
            lossless = not self._is_live
        self.lossless = lossless

    # --- control -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or self.controls.quit

    # --- the tracking half -------------------------------------------------------------------
    def _take(self, timeout: float):
        """Read one frame; returns a Frame, None (nothing yet) or END.

        A live source faster than the output rate (a 60 fps camera, ``--fps 30``) is thinned
        to the output rate here, before any work is spent on the extra frames.
        """
        frame = self.source.read(timeout=timeout)
        if frame is None:
            if getattr(self.source, "finished", False) and not getattr(self.source, "is_live", False):
                return END
            return None
        if not self.lossless:
            due = self._last_taken + 0.75 / self.options.fps
            if frame.capture_time < due:
                self.telemetry.counters.dropped += 1
                return None
            self._last_taken = frame.capture_time
        return frame

    def prepare(self, frame) -> Work:
        """capture → track → smooth → retarget (+presence) → features/encode for one frame."""
        got = time.monotonic()
        clock = FrameClock(frame.index, frame.capture_time)
        clock.mark("capture", frame.capture_time, got)
        self.telemetry.counters.frames_in += 1
        work = Work(frame.image, clock)
        st = self.stages
        if self.options.passthrough:
            return work
        c = self.controls
        if c.recalibrate:
            c.recalibrate = False
            if st.smoother is not None:
                st.smoother.reset()
            if st.compositor is not None:
                st.compositor.set_reference(None)
            if st.on_recalibrate is not None:
                st.on_recalibrate()
        # track (or reuse the last result when --track-fps skips this frame)
        with clock.stage("track"):
            t = frame.capture_time
            due = (self.options.track_fps <= 0 or self._last_track_t is None
                   or t - self._last_track_t >= 1.0 / self.options.track_fps - 1e-3)
            if due:
                result = st.tracker.track(frame.image, frame.index, frame.capture_time)
                self._last_track_t = t
                self._last_face = result.face
                face = result.face
            else:
                clock.tracked = False
                face = self._last_face
        if face is not None:
            self.telemetry.counters.faces += 1
            work.raw_blendshapes = face.blendshapes
        with clock.stage("smooth"):
            if st.smoother is not None and due:
                st.smoother.enabled = c.smoothing
                face = st.smoother(face, t)
                self._last_face = face
        with clock.stage("retarget"):
            # Called without a face too (None in, None out): a pending neutral capture sees the gap.
            retargeted = st.retarget(face, frame.capture_time) if st.retarget is not None else None
            motion = None
            if face is not None and st.compositor is not None and c.mode == "portrait":
                motion = st.compositor.head_motion(face.landmarks_px)
            if st.presence is not None:
                retargeted, motion, state = st.presence.update(retargeted, motion, t)
            else:
                state = PresenceState.TRACKING if retargeted is not None else PresenceState.IDLE
        with clock.stage("encode"):
            work.code = st.encode(retargeted) if retargeted is not None else None
        work.face, work.motion, work.state = face, motion, state
        return work

    # --- the rendering half ------------------------------------------------------------------
    def render(self, work: Work) -> None:
        st, c, clock = self.stages, self.controls, work.clock
        with clock.stage("decode"):
            crop = None
            if work.code is not None and st.decoder is not None and not c.reveal:
                crop = st.decoder.run(work.code)
                gpu = getattr(st.decoder, "last_gpu_ms", None)
                if gpu is not None:
                    clock.gpu_ms = gpu
        with clock.stage("composite"):
            out = self._composite(work, crop)
        self._last_output = out          # unlabelled: the label is stamped per view at the write
        self._last_driver = work.image
        sent = self._write(out, work.image, clock, work.state)
        if self.on_frame is not None:
            self.on_frame(sent, work)

    def _composite(self, work: Work, crop: np.ndarray | None) -> np.ndarray:
        comp = self.stages.compositor
        if self.options.passthrough or self.controls.reveal or comp is None:
            if comp is None:
                return work.image.copy()
            return comp.driver_only(work.image)
        if crop is None:
            return comp.plate() if self.controls.mode == "portrait" else comp.driver_only(work.image)
        if self.controls.mode == "paste":
            if work.face is not None:
                self._paste_at = work.face.landmarks_px
            if self._paste_at is None:
                return comp.driver_only(work.image)   # no face seen yet: nowhere to paste
            # Face lost: keep pasting (held / idle face) where it was last seen.
            return comp.paste(crop, work.image, self._paste_at)
        return comp.portrait(crop, work.motion)

    def _state_label(self, state: PresenceState | None, lost: bool) -> str:
        if lost:
            return "CAMERA LOST - reconnecting"
        if self.controls.reveal:
            return "REAL CAMERA (reveal)"
        if state is PresenceState.HOLD or state is PresenceState.IDLE:
            return "no face"
        hint = self.stages.feedback() if self.stages.feedback is not None else None
        return hint or ""

    def _write(self, out: np.ndarray, driver: np.ndarray | None, clock: FrameClock | None,
               state: PresenceState | None, lost: bool = False) -> np.ndarray:
        """Every sink gets its view of ``out``; returns the output view (labelled) as sent."""
        start = time.monotonic()
        self._state_text = self._state_label(state, lost)
        label = self.stages.label if self.controls.label else None
        info = self._overlay_info() if any(b.view != "output" for b in self.outputs) else None
        views: dict[str, np.ndarray] = {}
        if any(b.view == "preview" for b in self.outputs):
            # Mirrored before the label and the status are drawn, so both read the right way round.
            view = cv2.flip(out, 1) if self.controls.mirror_preview else out.copy()
            if label is not None:
                label.apply(view)
            views["preview"] = draw_overlay(view, info)
        if label is not None:
            # The label is stamped in place; a live source keeps the unlabelled frame for the
            # camera-lost repeats (which are labelled again here), so it stamps a copy.
            out = label.apply(out.copy() if self._is_live else out)
        views["output"] = out
        if any(b.view == "side-by-side" for b in self.outputs):
            views["side-by-side"] = draw_overlay(side_by_side(driver if driver is not None else out, out), info)
        for b in self.outputs:
            b.sink.write(views[b.view])
            if b.view != "output":
                self._handle_key(b.sink)
        done = time.monotonic()
        self._last_write = done
        if clock is not None:
            clock.mark("sink", start, done)
            self.telemetry.record(clock, done)
        else:
            self.telemetry.counters.frames_out += 1
        self._maybe_status(done)
        return views["output"]

    def _overlay_info(self) -> OverlayInfo:
        tel = self.telemetry
        return OverlayInfo(fps=tel.recent_fps(), e2e_ms=tel.recent_e2e_ms(),
                           engine=self.stages.engine_name, state=self._state_text,
                           mode=self.controls.mode, smoothing=self.controls.smoothing,
                           label=self.controls.label)

    def _handle_key(self, sink: Sink) -> None:
        key = getattr(sink, "last_key", -1)
        if getattr(sink, "window_closed", False):
            self.controls.quit = True
            return
        if key is None or key < 0:
            return
        from .overlay import apply_key
        apply_key(self.controls, key & 0xFF)
        if self.controls.save:
            self.controls.save = False
            if self.on_save is not None:
                self.on_save(self.controls)

    def _maybe_status(self, now: float) -> None:
        interval = self.options.status_interval_s
        if interval > 0 and self.on_status is not None and now - self._last_status >= interval:
            self._last_status = now
            self.on_status(self.telemetry.status_line(self.stages.engine_name, self._state_text))

    def _fill_gap(self, last_real: float) -> None:
        """A live source delivered nothing since ``last_real``: keep the sinks fed at the output
        rate with the last output, marked "camera lost" once the source reports it (or after
        ``lost_after_s``), so call apps never see the virtual camera stall or vanish."""
        if not getattr(self.source, "is_live", False):
            return
        now = time.monotonic()
        gap = now - last_real
        if gap < self.options.fill_after_s or now - self._last_write < 0.9 / self.options.fps:
            return
        lost = bool(getattr(self.source, "camera_lost", False)) or gap >= self.options.lost_after_s
        base = self._last_output
        if base is None:
            comp = self.stages.compositor
            base = comp.plate() if comp is not None else None
            if base is None:
                return
        frame = base.copy()
        if lost:
            draw_banner(frame, "camera lost - reconnecting")
        self.telemetry.counters.repeats += 1
        self._write(frame, self._last_driver, None, None, lost=lost)

    # --- schedules ---------------------------------------------------------------------------
    def run(self) -> Telemetry:
        stats = getattr(self.source, "stats", None)
        # Frames the grabber dropped while the stages were loading are not the pipeline's.
        drops_before = int(getattr(stats, "frames_dropped", 0)) if stats is not None else 0
        self.telemetry.start()
        try:
            if self.options.mode == "overlapped" and not self.options.passthrough:
                self._run_overlapped()
            else:
                self._run_serial()
        finally:
            self.telemetry.stop()
            if stats is not None:
                self.telemetry.counters.source_dropped = (
                    int(getattr(stats, "frames_dropped", 0)) - drops_before)
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
