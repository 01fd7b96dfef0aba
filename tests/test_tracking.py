"""FaceTracker on real clips with the real MediaPipe model."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from latentcam.facekit import BLENDSHAPE_NAMES, ModelFileError
from latentcam.facekit.blendshapes import GROUPS, indices
from latentcam.facekit.geometry import (alignment_matrix, canonicalize, euler_to_rotation, head_pose,
                                        rotation_to_euler, transform_points)
from latentcam.facekit.landmarks import STABLE, interocular_distance
from latentcam.facekit.model_file import FACE_MODEL_PATH
from latentcam.facekit.sources import open_source
from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode


def track_clip(path):
    results = []
    with open_source(path) as src, FaceTracker() as tracker:
        while (frame := src.read()) is not None:
            results.append(tracker.track(frame.image, frame.index, frame.capture_time))
    return results


@pytest.fixture(scope="module")
def single_face_results(single_face_clip):
    return track_clip(single_face_clip)


def test_every_frame_of_single_face_has_a_full_observation(single_face_results):
    assert len(single_face_results) == 72
    for r in single_face_results:
        assert r.has_face and r.num_faces == 1
        f = r.face
        assert f.landmarks_px.shape == (478, 3) and f.landmarks_norm.shape == (478, 3)
        assert f.blendshapes.shape == (52,) and len(BLENDSHAPE_NAMES) == 52
        assert f.head_transform.shape == (4, 4)
        assert np.all((f.blendshapes >= 0) & (f.blendshapes <= 1))
        x0, y0, x1, y1 = f.bbox
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
        np.testing.assert_allclose(f.landmarks_px[:, 0], f.landmarks_norm[:, 0] * 640, rtol=1e-5)
    # capture stamps are carried through and increase
    stamps = [r.capture_time for r in single_face_results]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_smile_at_the_end_is_higher_than_at_the_start(single_face_results):
    smile = indices(GROUPS["smile"])
    scores = np.array([r.face.blendshapes[smile].mean() for r in single_face_results])
    assert scores[-10:].mean() > scores[:10].mean() + 0.2


def test_no_face_clip_has_no_face(testdata):
    results = track_clip(testdata / "no_face.mp4")
    assert len(results) > 50
    assert not any(r.has_face for r in results)
    assert all(r.face is None and r.num_faces == 0 for r in results)


def test_face_noface_switches_from_face_to_no_face(testdata):
    present = [r.has_face for r in track_clip(testdata / "face_noface.mov")]
    first_missing = present.index(False)
    assert first_missing > 10 and all(present[:first_missing])
    assert sum(present[first_missing:]) < 0.1 * len(present[first_missing:])


def test_multi_face_photo_yields_one_tracked_face_the_largest(testdata):
    image = cv2.imread(str(testdata / "multi_face.jpg"))
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE, max_faces=4)) as tracker:
        r = tracker.track(image)
    assert r.num_faces >= 2
    assert r.face is not None
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE, max_faces=4)) as tracker:
        areas = []
        # the kept face is the largest of those found
        res = tracker._run.detect(image, 0.0)
        for lm in res.face_landmarks:
            pts = np.array([(p.x * image.shape[1], p.y * image.shape[0]) for p in lm])
            areas.append(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]))
    assert r.face.bbox_area == pytest.approx(max(areas), rel=1e-3)


def test_track_continues_the_previous_face_not_the_largest(testdata):
    """Two faces side by side: after locking onto the smaller one, the tracker keeps it."""
    image = cv2.imread(str(testdata / "multi_face.jpg"))
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE, max_faces=4)) as tracker:
        first = tracker.track(image)
        faces = tracker._convert(tracker._run.detect(image, 0.0), image.shape[1], image.shape[0])
        smaller = min(faces, key=lambda f: f.bbox_area)
        tracker._previous_bbox = smaller.bbox
        second = tracker.track(image)
    assert first.face.bbox_area > smaller.bbox_area
    assert second.face.bbox == pytest.approx(smaller.bbox, abs=2.0)


def test_corrupt_model_file_gets_a_clear_error_naming_the_file(tmp_path):
    bad = tmp_path / "face_landmarker.task"
    data = FACE_MODEL_PATH.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"face_landmarker\.task.*(bytes|truncated)"):
        FaceTracker(TrackerOptions(model_path=bad))
    tampered = bytearray(data)
    tampered[1000] ^= 0xFF
    bad.write_bytes(bytes(tampered))
    with pytest.raises(ModelFileError, match="integrity"):
        FaceTracker(TrackerOptions(model_path=bad))
    with pytest.raises(ModelFileError, match="not found"):
        FaceTracker(TrackerOptions(model_path=tmp_path / "missing.task"))


def test_misuse_fails_fast(single_face_clip):
    tracker = FaceTracker()
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        tracker.track(np.zeros((10, 10), np.uint8))
    tracker.close()
    tracker.close()  # safe twice
    with pytest.raises(ValueError, match="closed"):
        tracker.track(np.zeros((10, 10, 3), np.uint8))


def test_canonical_frame_removes_pose_but_keeps_expression(single_face_results):
    faces = [r.face for r in single_face_results]
    canon = np.stack([canonicalize(f.landmarks_px).points for f in faces])
    # stable points barely move in the canonical frame (centimetres)
    stable_spread = canon[:, list(STABLE)].std(axis=0).max()
    assert stable_spread < 0.25
    # ...while the smile widens the mouth (corners 61 and 291) by millimetres
    width = np.linalg.norm(canon[:, 291, :2] - canon[:, 61, :2], axis=1)
    assert width[-10:].mean() > width[:10].mean() + 0.3
    # a rotated + scaled + shifted copy of a face canonicalises to the same points
    pts = faces[0].landmarks_px.astype(np.float64)
    rot = euler_to_rotation(10, -5, 8)
    moved = (1.7 * (rot @ (pts - pts.mean(0)).T)).T + np.array([40, -25, 3])
    np.testing.assert_allclose(canonicalize(moved).points, canonicalize(pts).points, atol=1e-3)


def test_euler_round_trip_and_head_pose_is_near_frontal(single_face_results):
    for angles in [(10, -5, 3), (-30, 20, -15), (0, 0, 0)]:
        assert rotation_to_euler(euler_to_rotation(*angles)) == pytest.approx(angles, abs=1e-6)
    yaw, pitch, roll = head_pose(single_face_results[0].face.head_transform)
    assert abs(yaw) < 15 and abs(pitch) < 20 and abs(roll) < 15


def test_alignment_crop_puts_the_eyes_at_fixed_places(single_face_results):
    for r in single_face_results[::10]:
        m = alignment_matrix(r.face.landmarks_px, 256)
        crop_pts = transform_points(r.face.landmarks_px, m)
        iod = interocular_distance(crop_pts)
        assert 60 < iod < 90   # the same face size in every crop
        right, left = crop_pts[33, :2], crop_pts[263, :2]
        assert right[0] < 128 < left[0] and abs(right[1] - left[1]) < 6
