"""Stage-level behaviour on real tracked faces: smoothing, compositing, presence, label, telemetry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from latentcam.facekit.geometry import alignment_matrix, transform_points
from latentcam.facekit.landmarks import NOSE_TIP
from latentcam.realtime.composite import CompositeOptions, Compositor, cover_matrix
from latentcam.realtime.label import LabelOptions, SyntheticLabel
from latentcam.realtime.presence import NeutralFace, Presence, PresenceOptions, PresenceState
from latentcam.realtime.smoothing import FaceSmoother, OneEuroFilter, SmoothingOptions
from latentcam.realtime.telemetry import FrameClock, Telemetry


@pytest.fixture(scope="module")
def tracked(tracked_single_face):
    """(frames, observations) of the first 40 frames of the real clip."""
    frames, faces = [], []
    for _, img, face in tracked_single_face[:40]:
        frames.append(img)
        faces.append(face)
    assert len(frames) == 40
    assert all(f is not None for f in faces)
    return frames, faces


def _jitter(points: list[np.ndarray]) -> float:
    arr = np.stack(points)
    return float(np.abs(np.diff(arr, n=2, axis=0)).mean())   # second difference: shake, not motion


def test_one_euro_reduces_jitter_on_a_real_face(tracked):
    _, faces = tracked
    smoother = FaceSmoother(SmoothingOptions())
    smoothed = [smoother(f, i / 30.0) for i, f in enumerate(faces)]
    raw_j = _jitter([f.landmarks_px for f in faces])
    smooth_j = _jitter([f.landmarks_px for f in smoothed])
    assert smooth_j < 0.6 * raw_j
    # Rotation stays a rotation.
    r = smoothed[-1].head_transform[:3, :3]
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-4)
    # Disabled = untouched.
    off = FaceSmoother(SmoothingOptions(enabled=False))
    assert off(faces[3], 0.1) is faces[3]


def test_one_euro_is_causal_and_follows_fast_motion():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    xs = [f(np.array([0.0]), i / 30) for i in range(10)]
    ys = [f(np.array([100.0]), (10 + i) / 30) for i in range(10)]
    assert xs[-1][0] == 0.0                 # nothing leaks from the future
    assert ys[0][0] > 20 and ys[-1][0] > 95  # a fast jump is followed within a few frames
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


def _solid_crop(colour, size=256):
    crop = np.zeros((size, size, 4), np.uint8)
    crop[..., :3] = colour
    cv2.circle(crop, (size // 2, int(size * 0.5)), size // 3, (*colour, 255), -1)
    return crop


def test_paste_puts_the_face_on_the_driver_face_only(tracked):
    frames, faces = tracked
    frame, face = frames[5], faces[5]
    comp = Compositor(CompositeOptions(mode="paste", colour_match=False), 256, (1280, 720))
    out = comp.paste(_solid_crop((0, 255, 0)), frame, face.landmarks_px)
    assert out.shape == (720, 1280, 3)
    to_out = cover_matrix(frame.shape[1], frame.shape[0], 1280, 720)
    nose = transform_points(face.landmarks_px[[NOSE_TIP]], to_out)[0]
    b, g, r = out[int(nose[1]), int(nose[0])].astype(int)
    assert g > 240 and b < 15 and r < 15
    # Far from the face the driver's own frame is untouched.
    driver = cv2.resize(frame, (1280, 720))
    assert np.abs(out[:60, :60].astype(int) - driver[:60, :60].astype(int)).mean() < 2


def test_paste_colour_matches_to_the_driver_skin_legacy(tracked):
    """The mean shift of the compositing before issue #11 (``legacy``), kept for comparisons;
    the Lab transfer that replaced it is tested in test_realtime_composite.py."""
    frames, faces = tracked
    comp = Compositor(CompositeOptions(mode="paste", colour_match=True, colour_smoothing=0.0,
                                       legacy=True), 256, (640, 360))
    crop = _solid_crop((255, 0, 255))
    comp.paste(crop, frames[5], faces[5].landmarks_px)
    shift = comp.colour_shift
    assert shift[1] > 50 and shift[0] < -50          # pulled towards skin tones


def test_portrait_places_and_follows_the_head(tracked):
    frames, faces = tracked
    plate = np.full((360, 640, 3), 50, np.uint8)
    plate_face = faces[0].landmarks_px
    comp = Compositor(CompositeOptions(), 256, (1280, 720), plate=plate,
                      plate_to_crop=alignment_matrix(plate_face, 256))
    crop = _solid_crop((0, 0, 255))
    still = comp.portrait(crop, comp.head_motion(faces[0].landmarks_px))
    nose = plate_face[NOSE_TIP, :2] * 2.0                      # plate 640x360 → 1280x720
    assert still[int(nose[1]), int(nose[0]), 2] > 240
    moved = faces[0].landmarks_px.copy()
    moved[:, 0] += 60                                          # driver moves 60 px right
    shifted = comp.portrait(crop, comp.head_motion(moved))
    cols = np.where(shifted[int(nose[1]), :, 2] > 240)[0]
    cols0 = np.where(still[int(nose[1]), :, 2] > 240)[0]
    assert cols.mean() > cols0.mean() + 60                    # followed (scaled to the output)
    assert still[5, 5].tolist() == [50, 50, 50]


def test_presence_hold_ease_idle_and_return():
    neutral = NeutralFace(np.zeros((478, 3), np.float32), np.zeros(3, np.float32),
                          np.zeros(52, np.float32))
    face = NeutralFace(np.ones((478, 3), np.float32), np.array([10, 0, 0], np.float32),
                       np.full(52, 0.5, np.float32))
    p = Presence(neutral, PresenceOptions(hold_s=0.5, ease_s=1.0, blink_interval_s=1.0))
    out, _, state = p.update(face, None, 0.0)
    assert state is PresenceState.TRACKING and out is face
    out, _, state = p.update(None, None, 0.3)
    assert state is PresenceState.HOLD and np.allclose(out.points, 1.0)
    out, _, state = p.update(None, None, 1.0)
    assert state is PresenceState.IDLE and 0.0 < float(np.abs(out.points).mean()) < 1.0
    poses, blinks = [], []
    for t in np.arange(2.0, 8.0, 1 / 30):
        out, motion, state = p.update(None, None, float(t))
        poses.append(out.pose[0])
        blinks.append(out.blendshapes[9])
    assert np.ptp(poses) > 2.0            # the head sways
    assert max(blinks) > 0.8              # it blinks
    out, _, state = p.update(face, None, 8.0)
    assert state is PresenceState.TRACKING
    out, _, state = p.update(face, None, 8.12)
    assert 0.0 < float(np.abs(out.points - 1).mean()) < 1.0   # blends back in, no snap
    out, _, _ = p.update(face, None, 9.0)
    assert out is face


def test_label_positions_and_opacity():
    img = np.full((720, 1280, 3), 128, np.uint8)
    for pos in ("top-left", "top-right", "bottom-left", "bottom-right"):
        label = SyntheticLabel(LabelOptions(position=pos))
        x0, y0, x1, y1 = label.badge_rect(1280, 720)
        assert (x0 < 640) == pos.endswith("left") and (y0 < 360) == pos.startswith("top")
        out = label.apply(img.copy())
        assert (out[y0:y1, x0:x1] != 128).any() and (out[:, :] == 128).mean() > 0.95
    faint = SyntheticLabel(LabelOptions(opacity=0.2)).apply(img.copy())
    strong = SyntheticLabel(LabelOptions(opacity=1.0)).apply(img.copy())
    assert np.abs(faint.astype(int) - 128).sum() < np.abs(strong.astype(int) - 128).sum()
    with pytest.raises(ValueError, match="--no-label"):
        LabelOptions(opacity=0).validate()


def test_telemetry_ring_and_e2e_are_measured_not_summed():
    tel = Telemetry(capacity=8)
    tel.start()
    for i in range(20):
        clock = FrameClock(i, 100.0 + i)
        clock.mark("track", 100.0 + i, 100.0 + i + 0.010)
        clock.mark("decode", 100.0 + i + 0.010, 100.0 + i + 0.017)
        tel.record(clock, 100.0 + i + 0.030)                 # 13 ms unaccounted for
    tel.stop()
    s = tel.summary()
    assert s["frames"] == 20 and s["e2e_ms"]["n"] == 8      # bounded memory
    assert s["e2e_ms"]["p50"] == pytest.approx(30.0, abs=1e-6)
    assert s["stages_ms"]["track"]["p50"] == pytest.approx(10.0, abs=1e-4)
    assert s["fps"] == pytest.approx(1.0)
    assert "fps" in tel.status_line("onnxruntime")
