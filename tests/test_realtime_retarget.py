"""The `[retarget]` settings reach the live retargeter, and the live loop feeds it every frame."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace

import numpy as np
import pytest

from latentcam.facekit.blendshapes import INDEX
from latentcam.facekit.sources import Frame
from latentcam.realtime.config import LiveConfig, apply_overrides
from latentcam.realtime.pipeline import LivePipeline, PipelineOptions, Stages
from latentcam.realtime.presence import PresenceState
from latentcam.realtime.session import build_stages


@pytest.fixture(scope="module")
def asymmetric_face(tracked_single_face):
    """The real clip's tracked face with the most different left/right eye blink scores."""
    best, best_gap = None, -1.0
    for _, _, face in tracked_single_face[:60]:
        if face is None:
            continue
        gap = abs(float(face.blendshapes[INDEX["eyeBlinkLeft"]] - face.blendshapes[INDEX["eyeBlinkRight"]]))
        if gap > best_gap:
            best, best_gap = face, gap
    assert best is not None and best_gap > 1e-3
    return best


def _retargeted(face, **retarget):
    overrides = {"engine.name": "onnxruntime", "retarget.mode": "absolute"}
    overrides.update({f"retarget.{k}": v for k, v in retarget.items()})
    config = apply_overrides(LiveConfig(), overrides)
    with ExitStack() as stack:
        built = build_stages(config, stack)
        out = built.stages.retarget.process(face, 0.0)
        return built.stages.retarget.options, out


def test_mirror_setting_swaps_the_drivers_eyes(asymmetric_face):
    plain_opts, plain = _retargeted(asymmetric_face)
    mirror_opts, mirrored = _retargeted(asymmetric_face, mirror=True, sensitivity=2.0, invert_yaw=True)
    assert plain_opts.mirror is False
    assert mirror_opts.mirror is True and mirror_opts.sensitivity == 2.0 and mirror_opts.invert_yaw
    assert mirror_opts.mode.value == "absolute"
    left, right = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
    assert plain.blendshapes[left] != pytest.approx(plain.blendshapes[right], abs=1e-4)
    assert mirrored.blendshapes[left] == pytest.approx(plain.blendshapes[right], abs=1e-6)
    assert mirrored.blendshapes[right] == pytest.approx(plain.blendshapes[left], abs=1e-6)


def test_retarget_stage_sees_frames_without_a_face():
    """No face: the retarget stage is still called (None, the frame's capture time) and the
    rest of the loop sees no face, exactly as before."""
    calls = []

    class Retarget:
        feedback = None

        def process(self, face, t):
            calls.append((face, t))
            return None if face is None else "retargeted"

        def recalibrate(self):
            pass

        def poll_events(self):
            return []

    from latentcam.realtime.composite import CompositeOptions, Compositor
    from latentcam.realtime.label import SyntheticLabel
    from latentcam.realtime.marking import WatermarkSettings, WatermarkStage
    from latentcam.realtime.replay import FramesSource

    stages = Stages(compositor=Compositor(CompositeOptions(), 256, (64, 48)), label=SyntheticLabel(),
                    watermark=WatermarkStage(0, WatermarkSettings(enabled=False)),   # 48 rows: too small for it
                    tracker=SimpleNamespace(track=lambda img, i, t: SimpleNamespace(face=None)),
                    retarget=Retarget(), encoder=SimpleNamespace(encode=lambda r: np.zeros((1, 4), np.float32)))
    image = np.zeros((48, 64, 3), np.uint8)
    pipeline = LivePipeline(FramesSource([image], 1), stages, [], PipelineOptions(lossless=True))
    work = pipeline.prepare(Frame(image, 7, 123.25))
    assert calls == [(None, 123.25)]
    assert work.face is None and work.code is None and work.state is PresenceState.IDLE
