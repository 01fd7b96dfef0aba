"""The stages of the live loop and their contracts, in frame order.

One table (``docs/ARCHITECTURE.md`` repeats it) of what each stage takes and gives::

    source      FrameSource.read(timeout)            → Frame(image BGR uint8, index, capture_time) | None
    track       Tracker.track(bgr, index, t)         → TrackResult(.face: FaceObservation | None)
    smooth      FaceSmoother(face | None, t)         → FaceObservation | None (One Euro)
    retarget    Retarget.process(face | None, t)     → RetargetedFace | None (target's shape)
    presence    Presence.update(face, motion, t)     → (face, motion, PresenceState) (hold, ease, idle)
    encode      Encoder.encode(RetargetedFace)       → code (1, Z) float32
    decode      Decoder.run(code)                    → crop (S, S, 4) uint8 BGRA
    composite   CompositeStage.composite(...)        → picture BGR uint8 at the output size
    label       Outputs.views(picture, driver, info) → {View: frame}: each sink's view (label, mirror,
                                                        overlay, driver | output layout)
    watermark   WatermarkStage.apply(frame)          → the same frame, marked in place (each whole view)
    sinks       Outputs.send(views)                  → every sink writes its view

The protocols below are what the pipeline relies on; the real classes are
``facekit.tracker.FaceTracker``, ``calibration.Retargeter``, ``realtime.target.ExpressionEncoder``
and ``engines.DecoderBackend``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from latentcam.facekit.observation import FaceObservation

from .composite import CompositeMode, Compositor
from .label import SyntheticLabel
from .marking import WatermarkStage
from .overlay import Controls, OverlayInfo, draw_overlay, side_by_side
from .presence import Presence
from .sinks import Sink
from .smoothing import FaceSmoother

if TYPE_CHECKING:
    from latentcam.calibration import RetargetedFace
    from latentcam.facekit.observation import TrackResult


class Tracker(Protocol):
    def track(self, bgr: np.ndarray, frame_index: int, capture_time: float) -> "TrackResult": ...


class Retarget(Protocol):
    """``calibration.Retargeter``: the driver's face in the target's shape, with calibration."""

    @property
    def feedback(self) -> str | None: ...          # what the user should do while calibrating
    def process(self, face: FaceObservation | None, capture_time: float) -> "RetargetedFace | None": ...
    def recalibrate(self) -> None: ...
    def poll_events(self) -> list: ...              # calibration events (``.message``) since last call


class Encoder(Protocol):
    def encode(self, face: "RetargetedFace") -> np.ndarray: ...


class Decoder(Protocol):
    """``engines.DecoderBackend``."""

    name: str
    precision: str
    device: str
    last_gpu_ms: float | None                      # GPU time of the last run (GPU backends)

    def run(self, code: np.ndarray) -> np.ndarray: ...


@dataclass
class Stages:
    """The stage objects of one live run, built by ``session.build_stages``. A run without a
    tracker (and so without a decoder) sends the camera picture through composite → label →
    watermark → sinks: the bench's passthrough baseline."""

    compositor: Compositor
    label: SyntheticLabel
    watermark: WatermarkStage
    tracker: Tracker | None = None
    smoother: FaceSmoother | None = None
    retarget: Retarget | None = None
    presence: Presence | None = None
    encoder: Encoder | None = None
    decoder: Decoder | None = None

    @property
    def engine_name(self) -> str:
        d = self.decoder
        return "passthrough" if d is None else f"{d.name} {d.precision} {d.device}"


class CompositeStage:
    """Decoded crop (or none) + the driver frame → the picture at the output size, in the mode
    the controls say. Remembers where the driver's face was, so a lost face keeps being pasted
    where it was last seen."""

    def __init__(self, compositor: Compositor):
        self.compositor = compositor
        self._paste_at: np.ndarray | None = None

    def composite(self, driver: np.ndarray, face: FaceObservation | None, crop: np.ndarray | None,
                  motion: np.ndarray | None, controls: Controls) -> np.ndarray:
        comp = self.compositor
        if controls.reveal:
            return comp.driver_only(driver)
        if crop is None:
            return comp.plate() if controls.mode == CompositeMode.PORTRAIT else comp.driver_only(driver)
        if controls.mode == CompositeMode.PASTE:
            if face is not None:
                self._paste_at = face.landmarks_px
            if self._paste_at is None:
                return comp.driver_only(driver)   # no face seen yet: nowhere to paste
            return comp.paste(crop, driver, self._paste_at)
        return comp.portrait(crop, motion)


class View(str, Enum):
    """What a sink is sent."""

    OUTPUT = "output"                # the picture with the label (virtual camera, recording)
    PREVIEW = "preview"              # mirrored (if asked) + label + status overlay
    SIDE_BY_SIDE = "side-by-side"    # driver | output + overlay (demo recording)

    def __str__(self) -> str:
        return self.value


@dataclass
class SinkBinding:
    sink: Sink
    view: View = View.OUTPUT

    def __post_init__(self) -> None:
        try:
            self.view = View(self.view)
        except ValueError:
            raise ValueError(f"unknown view {self.view!r}; choose one of "
                             f"{', '.join(v.value for v in View)}") from None


class Outputs:
    """label → (watermark) → sinks: every sink gets its view of the picture. The preview is
    mirrored *before* the label and the status overlay are drawn, so both read the right way
    round; the side-by-side view is laid out from the labelled, still unmarked output, so the
    watermark stage marks each whole view exactly once."""

    def __init__(self, bindings: list[SinkBinding], label: SyntheticLabel, copy_before_label: bool):
        self.bindings = list(bindings)
        self.label = label
        self.copy_before_label = copy_before_label   # keep the caller's picture unlabelled and unmarked
        self.has_preview = any(b.view is View.PREVIEW for b in self.bindings)
        self.has_overlay = any(b.view is not View.OUTPUT for b in self.bindings)
        self.has_side_by_side = any(b.view is View.SIDE_BY_SIDE for b in self.bindings)

    def views(self, picture: np.ndarray, driver: np.ndarray | None, info: OverlayInfo | None,
              controls: Controls) -> dict[View, np.ndarray]:
        """Each view as its sinks will get it, minus the watermark; every view a separate array
        (the output one is ``picture`` itself unless ``copy_before_label``)."""
        label = self.label if controls.label else None
        views: dict[View, np.ndarray] = {}
        if self.has_preview:
            view = cv2.flip(picture, 1) if controls.mirror_preview else picture.copy()
            if label is not None:
                label.apply(view)
            views[View.PREVIEW] = draw_overlay(view, info)
        out = picture.copy() if self.copy_before_label else picture
        if label is not None:
            label.apply(out)
        views[View.OUTPUT] = out
        if self.has_side_by_side:
            views[View.SIDE_BY_SIDE] = draw_overlay(side_by_side(driver if driver is not None else out, out), info)
        return views

    def send(self, views: dict[View, np.ndarray]) -> None:
        for b in self.bindings:
            b.sink.write(views[b.view])


__all__ = ["CompositeStage", "Decoder", "Encoder", "Outputs", "Retarget", "SinkBinding", "Stages",
           "Tracker", "View"]
