"""One-photo targets on the real astronaut portrait, driven by a real clip, re-tracked by MediaPipe."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from latentcam.facekit.blendshapes import INDEX
from latentcam.facekit.canonical import load_canonical_face
from latentcam.facekit.landmarks import CHIN, FOREHEAD, LIPS_INNER
from latentcam.latent.dataset import DatasetError, PrepareOptions, load_dataset, prepare
from latentcam.latent.mouth import LOWER_INNER, UPPER_INNER, render_mouth
from latentcam.latent.photo import PhotoOptions, PhotoSource, jaw_weights, open_jaw

FRAMES = 16
SIZE = 128


@pytest.fixture(scope="module")
def photo_source(testdata: Path) -> PhotoSource:
    return PhotoSource(testdata / "astronaut.png", [testdata / "single_face.mp4"],
                       PhotoOptions(frames=FRAMES, seed=3, crop_size=SIZE, max_driver_frames=40,
                                    jaw_fraction=0.6))


@pytest.fixture(scope="module")
def photo_dataset(photo_source, tmp_path_factory):
    out = tmp_path_factory.mktemp("photo") / "astronaut"
    result = prepare(photo_source, out, PrepareOptions(size=SIZE))
    return out, result


def test_photo_dataset_format_and_provenance(photo_dataset, photo_source, testdata):
    out, result = photo_dataset
    ds = load_dataset(out)
    assert ds.synthetic and ds.manifest["source"]["kind"] == "photo"
    assert ds.manifest["source"]["path"] == "astronaut.png"
    # Most synthetic frames must re-track (the dataset is MediaPipe's view of them).
    assert result.frames >= 0.8 * FRAMES
    assert result.frames + result.skipped_no_face == FRAMES
    drivers = ds.manifest["drivers"]
    assert [d["clip"] for d in drivers] == ["single_face.mp4"]
    assert len(drivers[0]["sha256"]) == 64 and drivers[0]["frames_used"]
    assert all(0 <= f < 40 for f in drivers[0]["frames_used"])
    rows = ds.manifest["synthesis"]["rows"]
    assert [r[0] for r in rows] == ds.frame_index.tolist()
    assert "re-tracked" in ds.manifest["synthesis"]["crops"]
    # Frame 0 is the portrait itself and serves as the background plate.
    assert ds.manifest["background_frame"] == 0
    assert ds.background().shape == photo_source.rig.image.shape
    assert (ds.mask(0) > 127).mean() > 0.2


def test_rerun_does_no_work(photo_dataset, photo_source):
    out, _ = photo_dataset
    again = prepare(photo_source, out, PrepareOptions(size=SIZE), coverage=False)
    assert again.processed_now == 0 and again.resumed


def test_open_mouth_has_teeth_and_cavity(photo_source):
    opened = [i for i, r in enumerate(photo_source.recipes) if r.jaw_deg > 12][:3]
    assert opened, "the recipe mix must contain open-mouth frames"
    for i in opened:
        image = photo_source.render(i)
        target = photo_source.target_landmarks(i)
        inside = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(target[list(LIPS_INNER), :2]).astype(np.int32)], 255)
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
        pixels = image[inside > 0].astype(np.float32)
        assert len(pixels) > 100, "the mouth must actually open"
        value = pixels.max(axis=1)
        saturation = value - pixels.min(axis=1)
        teeth = (value > 140) & (saturation < 0.35 * value)        # bright, nearly grey
        cavity = value < 70
        assert teeth.mean() > 0.08, f"frame {i}: no teeth in the open mouth"
        assert cavity.mean() > 0.1, f"frame {i}: no dark oral cavity"
        # A shaded interior, not a flat black hole.
        assert np.median(value) > 25 and value.std() > 30


def test_retracked_expression_follows_request(photo_dataset, photo_source):
    out, _ = photo_dataset
    ds = load_dataset(out)
    requested = np.array([photo_source.recipes[int(i)].jaw_deg for i in ds.frame_index])
    jaw_open = ds.blendshapes[:, INDEX["jawOpen"]]
    assert (requested > 12).sum() >= 3 and (requested == 0).sum() >= 2
    assert np.corrcoef(requested, jaw_open)[0, 1] > 0.6
    assert jaw_open[requested > 12].mean() > jaw_open[requested == 0].mean() + 0.15
    # Requested head turns show up in the re-tracked yaw.
    yaw = np.array([photo_source.recipes[int(i)].turn[0] for i in ds.frame_index])
    assert np.corrcoef(yaw, ds.pose[:, 0])[0, 1] > 0.7


def test_jaw_articulation_moves_lower_face_only():
    w = jaw_weights()[:, 0]
    assert w[list(LOWER_INNER)][2:-2].min() > 0.9 and w[CHIN] > 0.99
    assert w[list(UPPER_INNER)][2:-2].max() < 0.1 and w[FOREHEAD] < 0.01
    points = load_canonical_face().vertices.astype(np.float64)
    full = np.vstack([points, np.zeros((10, 3))])
    opened = open_jaw(full, jaw_weights(), 20.0)
    assert opened[CHIN, 1] < full[CHIN, 1] - 2.0          # chin drops by centimetres
    assert abs(opened[FOREHEAD, 1] - full[FOREHEAD, 1]) < 1e-9
    gap = opened[14, 1] - opened[13, 1]
    assert gap < (full[14, 1] - full[13, 1]) - 1.5         # lips part


def test_mouth_layer_is_clipped_to_the_lips(photo_source):
    i = next(i for i, r in enumerate(photo_source.recipes) if r.jaw_deg > 12)
    target = photo_source.target_landmarks(i)
    h, w = photo_source.rig.image.shape[:2]
    layer, alpha, (x0, y0) = render_mouth((h, w), target, photo_source.rig.style)
    assert layer.shape[:2] == alpha.shape and alpha.max() > 0.99 and alpha.min() == 0.0
    inner = target[list(LIPS_INNER), :2] - [x0, y0]
    cx, cy = np.round(inner.mean(axis=0)).astype(int)
    assert alpha[cy, cx] > 0.99                           # inside the opening
    assert alpha[0, 0] == 0.0                             # outside the lips


def test_bad_photos_are_clear_errors(tmp_path, testdata):
    with pytest.raises(DatasetError, match="photo not found"):
        PhotoSource(tmp_path / "nope.jpg", [testdata / "single_face.mp4"])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match="cannot read photo"):
        PhotoSource(junk, [testdata / "single_face.mp4"])
    cap = cv2.VideoCapture(str(testdata / "no_face.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), frame)
    with pytest.raises(DatasetError, match="no face found in photo"):
        PhotoSource(empty, [testdata / "single_face.mp4"])


def test_cli_photo(tmp_path, testdata):
    from latentcam.cli import build_app

    out = tmp_path / "cli"
    res = CliRunner().invoke(build_app(), [
        "prepare", "--photo", str(testdata / "astronaut.png"), "--out", str(out),
        "--drivers", str(testdata / "single_face.mp4"), "--frames", "3", "--size", "64"])
    assert res.exit_code == 0, res.output
    assert f"drivers: your clips {testdata / 'single_face.mp4'}" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["synthetic"] is True and manifest["frames"] >= 2
    assert "Coverage of" in res.output
    res = CliRunner().invoke(build_app(), ["prepare", str(testdata / "single_face.mp4"),
                                           "--photo", str(testdata / "astronaut.png"),
                                           "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "exactly one" in res.output


def test_relaxed_frame_removes_the_portraits_smile(photo_dataset, photo_source):
    """Frame 1 is the portrait with its own expression regressed out: it smiles less."""
    out, _ = photo_dataset
    ds = load_dataset(out)
    assert photo_source.recipes[1].relax == 1.0 and photo_source.recipes[1].jaw_deg == 0.0
    rows = list(ds.frame_index)
    assert 0 in rows and 1 in rows
    smile = ds.blendshapes[:, [INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean(axis=1)
    assert smile[rows.index(1)] < smile[rows.index(0)] - 0.1
    # The astronaut smiles with her teeth showing; relaxed, her lips close (MediaPipe's re-tracked
    # inner lips, in mouth widths: in the default target's data 15 % apart in the photo, 4 %
    # relaxed, and 17 % when only the expression regression relaxed her, before ``close_lips``).
    def lip_gap(canonical):
        return (canonical[13, 1] - canonical[14, 1]) / np.linalg.norm(canonical[61] - canonical[291])
    assert lip_gap(ds.canonical[rows.index(0)]) > 0.1
    assert lip_gap(ds.canonical[rows.index(1)]) < 0.4 * lip_gap(ds.canonical[rows.index(0)])


def test_target_neutral_is_the_relaxed_portrait(photo_dataset):
    """A one-photo target's neutral face (what the retargeter maps a driver's neutral onto) is
    the relaxed portrait the synthesis names, not a mean of calm-looking frames that still show
    the photo's parted lips; without that frame the calmest tenth stands in."""
    from latentcam.latent.export import neutral_frames, target_neutral_rows
    from latentcam.latent.training_data import load_training_data

    out, _ = photo_dataset
    data = load_training_data(out, SIZE)
    assert data.manifest["neutral_frame"] == 1
    rows = target_neutral_rows(data)
    assert data.frame_index[rows].tolist() == [1]
    without = data.subset(data.frame_index != 1)
    np.testing.assert_array_equal(target_neutral_rows(without), neutral_frames(without.blendshapes))


def test_close_lips_closes_only_parted_lips(photo_source):
    """The photo's parted lips meet after ``close_lips`` while the eyes and nose stay put; a
    closed mouth is left exactly as it is."""
    from latentcam.facekit.landmarks import LEFT_EYE, NOSE_TIP
    from latentcam.latent.mouth import LOWER_INNER, UPPER_INNER
    from latentcam.latent.photo import close_lips

    photo = photo_source.rig.pose.points.astype(np.float64)
    upper, lower = list(UPPER_INNER[1:-1]), list(LOWER_INNER[1:-1])
    assert (photo[upper, 1] - photo[lower, 1]).max() > 0.3         # cm: her teeth show
    closed = close_lips(photo)
    np.testing.assert_allclose(closed[upper, 1], closed[lower, 1], atol=1e-9)
    np.testing.assert_allclose(closed[list(LEFT_EYE)], photo[list(LEFT_EYE)], atol=0.01)
    assert abs(closed[NOSE_TIP, 1] - photo[NOSE_TIP, 1]) < 0.1       # cm: the upper lip tugs a little
    np.testing.assert_allclose(close_lips(closed), closed, atol=1e-9)


def test_puckered_lips_read_as_a_pucker(photo_source):
    """``pucker_lips`` narrows the mouth and pushes it forward, leaves eyes and forehead where
    they are, and MediaPipe reads the warped astronaut as puckering (the sample drivers hardly
    pucker; without these frames a one-photo target never shows an "oo" mouth)."""
    from latentcam.facekit.landmarks import LEFT_EYE, LIPS_OUTER
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode
    from latentcam.latent.photo import pucker_lips

    neutral = photo_source.neutral_canonical
    np.testing.assert_array_equal(pucker_lips(neutral, 0.0), neutral)
    puckered = pucker_lips(neutral, 0.5)
    width = lambda p: np.ptp(p[list(LIPS_OUTER), 0])  # noqa: E731
    assert width(puckered) < 0.8 * width(neutral)
    assert puckered[list(LIPS_OUTER), 2].mean() > neutral[list(LIPS_OUTER), 2].mean() + 0.5   # cm forward
    np.testing.assert_allclose(puckered[list(LEFT_EYE)], neutral[list(LEFT_EYE)], atol=0.01)
    assert abs(puckered[FOREHEAD] - neutral[FOREHEAD]).max() < 1e-6
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE)) as tracker:
        def pucker_read(points):
            image = photo_source.rig.render(photo_source.landmarks_from_canonical(points))
            return float(tracker.track(image, 0, 0.0).face.blendshapes[INDEX["mouthPucker"]])
        assert pucker_read(neutral) < 0.1
        assert pucker_read(puckered) > 0.4


def test_puckered_frames_leave_the_other_recipes_as_they_were(photo_source):
    """Puckered frames draw from their own random stream: switching them off gives the same
    recipes for every other frame; a puckered frame has a relaxed, closed mouth."""
    from dataclasses import replace

    from latentcam.latent.photo import PUCKER_STRENGTH, make_recipes

    options = replace(photo_source.options, frames=200)
    with_puckers = make_recipes(photo_source.drivers, options)
    without = make_recipes(photo_source.drivers, replace(options, pucker_fraction=0.0))
    puckered = [i for i, r in enumerate(with_puckers) if r.pucker > 0]
    assert 10 <= len(puckered) <= 45 and 0 not in puckered and 1 not in puckered
    assert all(w == o for i, (w, o) in enumerate(zip(with_puckers, without)) if i not in puckered)
    for i in puckered:
        r = with_puckers[i]
        assert PUCKER_STRENGTH[0] <= r.pucker <= PUCKER_STRENGTH[1]
        assert r.relax == 1.0 and r.jaw_deg == 0.0 and r.mouth == with_puckers[1].mouth
        assert r.eyes == without[i].eyes and r.turn == without[i].turn


def test_closed_eye_gets_a_lid_not_a_smear(photo_source):
    """Closing the portrait's eyes paints lids of its own skin with a lash line: MediaPipe sees
    closed eyes, and the eye region holds skin, not the stretched dark lashes and iris; an open
    eye is left exactly as warped."""
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode
    from latentcam.latent.eyelids import _EYES, paint_eyelids

    rig = photo_source.rig
    unchanged = rig.image.copy()
    paint_eyelids(unchanged, rig.landmarks, rig.landmarks, rig.eyelids)
    assert np.array_equal(unchanged, rig.image)

    closed = rig.landmarks.copy()
    for upper, lower in _EYES:
        closed[upper[1:-1], :2] = closed[lower[1:-1], :2] + [0.0, -0.3]
    image = rig.render(closed)
    blink = [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE)) as tracker:
        face, portrait = tracker.track(image).face, tracker.track(rig.image).face
    assert face is not None and portrait is not None
    assert (face.blendshapes[blink] > portrait.blendshapes[blink] + 0.3).all()
    # Where the open eye was (iris, lashes) is now skin but for the lash line (measured: 11–13 %
    # dark pixels painted, 53–58 % when the warp alone closes the eye, 44 % open).
    skin = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for upper, lower in _EYES:
        eye = np.zeros(skin.shape, np.uint8)
        outline = np.vstack([rig.landmarks[upper, :2], rig.landmarks[lower[::-1], :2]])
        cv2.fillPoly(eye, [np.round(outline).astype(np.int32)], 255)
        eye = cv2.erode(eye, np.ones((3, 3), np.uint8))
        before = cv2.cvtColor(rig.image, cv2.COLOR_BGR2GRAY)[eye > 0]
        after = skin[eye > 0]
        assert (before < 90).mean() > 0.3, "the portrait's open eye shows its dark iris"
        assert (after < 90).mean() < 0.2, "the closed eye must show lid skin (and its lash line)"


def _frame(clip: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def test_photo_problems_are_named(tmp_path, testdata):
    from latentcam.latent.photo import PortraitLimits, load_portrait

    with pytest.raises(DatasetError, match="shows 2 faces; a one-photo target needs exactly one"):
        load_portrait(testdata / "multi_face.jpg")
    small = tmp_path / "small.png"                  # the astronaut's face 36 px wide
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(testdata / "astronaut.png")), None, fx=0.4,
                                       fy=0.4, interpolation=cv2.INTER_AREA))
    with pytest.raises(DatasetError, match=r"too small \(36 px wide; at least 42 px is needed for 256² crops"):
        load_portrait(small)
    assert load_portrait(small, crop_size=128).work_scale > 1      # enough for smaller crops
    turned = tmp_path / "turned.png"                # Wolfgang clip frame 156: yaw -17°, pitch -8°
    cv2.imwrite(str(turned), _frame(testdata / "WolfgangLanger_Pexels.mp4", 156))
    assert abs(load_portrait(turned).pose[0] + 16.7) < 1.0          # within the default ±25°
    with pytest.raises(DatasetError, match=r"turned too far \(yaw -17°"):
        load_portrait(turned, limits=PortraitLimits(max_yaw_deg=10.0))
    ok = load_portrait(testdata / "single_face.jpg")
    assert ok.work_scale == pytest.approx(0.93, abs=0.02)


def test_photo_is_checked_before_any_driver_is_read_or_recorded(tmp_path, testdata, monkeypatch):
    from latentcam import prepare_command
    from latentcam.cli import build_app

    recorded = []
    monkeypatch.setattr(prepare_command, "record_camera_driver", lambda *a, **k: recorded.append(a))
    for drivers in (["--drivers", str(tmp_path / "missing.mp4")], ["--drivers-camera"], []):
        res = CliRunner().invoke(build_app(), ["prepare", "--photo", str(testdata / "multi_face.jpg"),
                                               "--out", str(tmp_path / "d"), *drivers])
        assert res.exit_code == 2 and "shows 2 faces" in res.output, res.output
        assert "drivers:" not in res.output
    assert recorded == [] and not (tmp_path / "d").exists()
    monkeypatch.undo()
    res = CliRunner().invoke(build_app(), ["prepare", "--photo", str(testdata / "astronaut.png"),
                                           "--out", str(tmp_path / "d"), "--drivers",
                                           str(tmp_path / "missing.mp4"), "--drivers-camera"])
    assert res.exit_code == 2 and "not both" in res.output
    res = CliRunner().invoke(build_app(), ["prepare", "--photo", str(testdata / "astronaut.png"),
                                           "--out", str(tmp_path / "d"), "--drivers-camera",
                                           "--camera", "7"])          # no camera 7 on a test machine
    assert res.exit_code == 2 and "cannot open camera 7" in res.output
    assert "pass recorded clips with --drivers CLIP" in res.output and "--source" not in res.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "d-driver.mp4").exists()


def test_without_drivers_the_sample_clips_are_used_and_named(tmp_path, testdata, monkeypatch, capsys):
    from latentcam import prepare_command
    from latentcam.facekit import samples

    monkeypatch.delenv(samples.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))     # no user samples: the checkout's
    clips = prepare_command._photo_drivers(None, False, 0, tmp_path / "d")
    assert clips == [testdata / "single_face.mp4", testdata / "WolfgangLanger_Pexels.mp4"]
    assert (f"drivers: the sample clips single_face.mp4, WolfgangLanger_Pexels.mp4 from {testdata}"
            in capsys.readouterr().out)
    monkeypatch.setattr(samples, "_source_tree_testdata", lambda: None)   # as from a wheel
    with pytest.raises(samples.SamplesError) as err:
        prepare_command._photo_drivers(None, False, 0, tmp_path / "d")
    assert "`latentcam samples`" in err.value.hint and "--drivers-camera" in err.value.hint


def test_drivers_recorded_from_the_camera_with_the_guided_prompts(tmp_path, single_face_clip,
                                                                   monkeypatch, testdata):
    """--drivers-camera end to end except the device: the real CameraSource over the FakeCamera
    replaying a real clip, a shortened guided recording, then the photo synthesis from it."""
    from latentcam import prepare_command
    from latentcam.calibration import GUIDED_STEPS
    from latentcam.calibration.driver_recording import DriverRecordingOptions
    from latentcam.cli import build_app
    from latentcam.facekit.sources import CameraSource
    from latentcam.latent.photo import track_driver
    from support.camera import FakeCamera

    short = DriverRecordingOptions(lead_in_seconds=0.1, neutral_seconds=0.3, step_seconds=0.15,
                                   relax_seconds=0.05, turn_seconds=0.1, free_seconds=0.1)
    fake = FakeCamera.from_clip(single_face_clip, fps=30.0)
    opened = []

    def open_camera(index):
        opened.append(index)
        return CameraSource(index, opener=lambda i, o: fake)

    real = prepare_command.record_camera_driver
    monkeypatch.setattr(prepare_command, "record_camera_driver",
                        lambda camera, path: real(camera, path, short, open_camera))
    out = tmp_path / "me"
    res = CliRunner().invoke(build_app(), ["prepare", "--photo", str(testdata / "astronaut.png"),
                                           "--out", str(out), "--drivers-camera", "--camera", "3",
                                           "--frames", "3", "--size", "64"])
    assert res.exit_code == 0, res.output
    clip = tmp_path / "me-driver.mp4"
    assert opened == [3]
    assert f"drivers: recorded from camera 3 ({clip}; reuse it with --drivers {clip})" in res.output
    for step in GUIDED_STEPS:                                   # the calibrate --guided prompts
        assert step.instruction in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me", "me-driver.mp4"]   # no temp file
    driver = track_driver(clip)
    assert len(driver.frame_index) >= 20                        # ~1.8 s at 30 fps, faces found
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["frames"] >= 2


def test_a_camera_that_stops_mid_recording_leaves_no_clip(tmp_path, single_face_clip):
    from latentcam.calibration.driver_recording import DriverRecordingOptions, record_driver_clip
    from latentcam.calibration.session import CalibrationError
    from latentcam.facekit.sources import CameraSource
    from support.camera import FakeCamera

    fake = FakeCamera.from_clip(single_face_clip, fps=30.0, limit=10)   # stops after 10 frames
    options = DriverRecordingOptions(lead_in_seconds=0.0, neutral_seconds=5.0, read_timeout_s=0.5)
    said = []
    with CameraSource(0, opener=lambda i, o: fake) as source:
        with pytest.raises(CalibrationError, match="delivered no frame for 0.5 s"):
            record_driver_clip(source, tmp_path / "me.mp4", options, say=said.append)
    assert list(tmp_path.iterdir()) == []
    assert said[1].startswith("[1/15] Look at the camera with a relaxed face")
