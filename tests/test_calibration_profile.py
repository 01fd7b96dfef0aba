"""Calibration profiles: round trip of a real captured neutral and every validation error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentcam.calibration import CalibrationProfile, NeutralCapture, NeutralCaptureOptions, ProfileError
from latentcam.calibration.measures import MEASURES
from latentcam.calibration.profile import PROFILE_FORMAT, PROFILE_VERSION
from latentcam.facekit.model_file import FACE_MODEL_SHA256


@pytest.fixture(scope="module")
def profile(tracked_single_face) -> CalibrationProfile:
    capture = NeutralCapture(NeutralCaptureOptions(seconds=0.4))
    for i, _, face in tracked_single_face:
        capture.feed(face, i / 30)
        if capture.done:
            break
    assert capture.done, "single_face.mp4 ended before a neutral was captured"
    r = capture.result
    return CalibrationProfile(r.points, r.pose, r.blendshapes, ranges={"smile": 1.2, "mouth_open": 0.9},
                              blendshape_ranges={"smile": 0.8}, sensitivity=1.5, source="single_face.mp4",
                              capture={"frames": r.frames})


@pytest.fixture()
def saved(profile, tmp_path):
    path = profile.save(tmp_path / "me.json")
    return path, json.loads(path.read_text())


def _write(tmp_path, data) -> str:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_round_trip_is_small_versioned_and_exact_enough(profile, saved):
    path, data = saved
    assert data["format"] == PROFILE_FORMAT and data["version"] == PROFILE_VERSION
    assert data["landmark_model"] == FACE_MODEL_SHA256 and data["created"].startswith("20")
    assert path.stat().st_size < 30_000
    loaded = CalibrationProfile.load(path)
    np.testing.assert_allclose(loaded.neutral_points, profile.neutral_points, atol=1e-5)
    np.testing.assert_allclose(loaded.neutral_pose, profile.neutral_pose, atol=1e-4)
    np.testing.assert_allclose(loaded.neutral_blendshapes, profile.neutral_blendshapes, atol=1e-5)
    assert loaded.ranges == pytest.approx(profile.ranges) and loaded.sensitivity == 1.5
    assert loaded.blendshape_ranges == pytest.approx({"smile": 0.8}) and loaded.source == "single_face.mp4"
    assert not path.with_name("me.json.tmp").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="something-else"), "not a latentcam calibration profile"),
    (lambda d: d.update(version=PROFILE_VERSION + 1), "newer than this latentcam understands"),
    (lambda d: d.update(version="1"), "not an integer"),
    (lambda d: d.update(landmark_model="0" * 64), "made for another landmark model"),
    (lambda d: d.pop("landmark_model"), "made for another landmark model"),
    (lambda d: d["neutral"].update(points=d["neutral"]["points"][:468]), r"neutral.points has shape \(468, 3\)"),
    (lambda d: d["neutral"].update(pose=[0.0, 1.0]), r"neutral.pose has shape \(2,\)"),
    (lambda d: d["neutral"].update(blendshapes=[0.0] * 51), r"neutral.blendshapes has shape \(51,\)"),
    (lambda d: d["neutral"]["points"][5].__setitem__(1, float("nan")), "NaN or infinite"),
    (lambda d: d["neutral"].update(points="lots"), "must be a list of numbers"),
    (lambda d: d["neutral"].pop("pose"), "'neutral' must hold exactly"),
    (lambda d: d.pop("neutral"), "missing"),
    (lambda d: d.update(colour="blue"), r"unknown keys \['colour'\]"),
    (lambda d: d.update(ranges={"grin": 1.0}), "unknown entry 'grin'"),
    (lambda d: d.update(ranges={"smile": -1.0}), "must be a finite number >= 0"),
    (lambda d: d.update(ranges={"smile": "wide"}), "must map names to numbers"),
    (lambda d: d.update(sensitivity=40.0), "outside 0.25..4.0"),
])
def test_invalid_profiles_are_rejected_with_a_clear_error(saved, tmp_path, edit, message):
    _, data = saved
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError, match=message) as err:
        CalibrationProfile.load(path)
    assert path in str(err.value)
    # each error also says what to do
    assert any(fix in str(err.value) for fix in ("latentcam calibrate", "Upgrade latentcam", "Pick a value"))


def test_malformed_or_missing_files_are_rejected(tmp_path, saved):
    path, _ = saved
    text = path.read_text()
    with pytest.raises(ProfileError, match=r"not valid JSON \(line \d+, column \d+"):
        CalibrationProfile.load(_write(tmp_path, text[: len(text) // 2]))
    with pytest.raises(ProfileError, match="expected a JSON object, got list"):
        CalibrationProfile.load(_write(tmp_path, "[1, 2, 3]"))
    with pytest.raises(ProfileError, match="profile not found"):
        CalibrationProfile.load(tmp_path / "nope.json")
    binary = tmp_path / "photo.json"
    binary.write_bytes(b"\xff\xd8\xff\xe0 not json")
    with pytest.raises(ProfileError, match="not a text"):
        CalibrationProfile.load(binary)
    with pytest.raises(ProfileError, match="does not exist"):
        CalibrationProfile.load(path).save(tmp_path / "missing" / "me.json")


def test_profiles_reject_bad_values_at_construction(profile):
    with pytest.raises(ProfileError, match="NaN"):
        CalibrationProfile(np.full((478, 3), np.nan), profile.neutral_pose, profile.neutral_blendshapes)
    with pytest.raises(ProfileError, match="sensitivity"):
        profile.with_sensitivity(0.0)
    assert profile.with_sensitivity(2.0).sensitivity == 2.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sensitivity=st.floats(0.25, 4.0),
       ranges=st.dictionaries(st.sampled_from(sorted(MEASURES)), st.floats(0.0, 5.0)),
       shift=st.floats(-3.0, 3.0), yaw=st.floats(-179.0, 179.0))
def test_any_valid_profile_survives_a_round_trip(profile, tmp_path, sensitivity, ranges, shift, yaw):
    original = CalibrationProfile(profile.neutral_points + shift, profile.neutral_pose + [yaw, 0, 0],
                                  profile.neutral_blendshapes, ranges=ranges, sensitivity=sensitivity)
    loaded = CalibrationProfile.load(original.save(tmp_path / "p.json"))
    np.testing.assert_allclose(loaded.neutral_points, original.neutral_points, atol=1e-5)
    np.testing.assert_allclose(loaded.neutral_pose, original.neutral_pose, atol=1e-4)
    assert loaded.ranges == pytest.approx(ranges, abs=1e-5)
    assert loaded.sensitivity == sensitivity
