"""latent.features on real tracked faces: shape, determinism, layout, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from latentcam.latent.features import (FEATURE_SIZE, crop_split_row, expression_features,
                                       expression_features_batch, feature_layout)


@pytest.fixture(scope="module")
def observations(tracked_single_face):
    from latentcam.facekit.geometry import canonicalize, head_pose

    out = [(canonicalize(face.landmarks_px).points, face.blendshapes,
            np.array(head_pose(face.head_transform), np.float32))
           for i, _, face in tracked_single_face if face is not None and i % 8 == 0]
    assert len(out) >= 5
    return out


def test_shape_dtype_and_determinism(observations):
    pts, bs, pose = observations[0]
    a = expression_features(pts, bs, pose)
    b = expression_features(pts.copy(), bs.copy(), pose.copy())
    assert a.shape == (FEATURE_SIZE,) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.all(np.isfinite(a)) and np.abs(a).max() < 5   # scaled to roughly unit range


def test_batch_matches_single(observations):
    pts, bs, pose = (np.stack(x) for x in zip(*observations))
    batch = expression_features_batch(pts, bs, pose)
    single = np.stack([expression_features(*o) for o in observations])
    assert np.array_equal(batch, single)


def test_features_follow_expression(observations):
    """Frames of the clip differ (neutral → smile) and the features see it."""
    first = expression_features(*observations[0])
    last = expression_features(*observations[-1])
    assert np.abs(first - last).max() > 0.01


def test_layout_partitions_the_vector():
    layout = feature_layout()
    allidx = np.concatenate([layout.upper, layout.lower, layout.shared])
    assert sorted(allidx.tolist()) == list(range(FEATURE_SIZE))
    assert len(layout.upper) > 50 and len(layout.lower) > 50
    assert 0.4 * 256 < crop_split_row(256) < 0.7 * 256   # below the nose, above the mouth


@pytest.mark.parametrize("bad", ["points", "blendshapes", "pose"])
def test_bad_shapes_say_what_is_wrong(observations, bad):
    pts, bs, pose = observations[0]
    args = {"points": pts, "blendshapes": bs, "pose": pose}
    args[bad] = args[bad][..., :2] if bad != "blendshapes" else args[bad][:40]
    with pytest.raises(ValueError, match=bad):
        expression_features(args["points"], args["blendshapes"], args["pose"])


def test_non_finite_input_is_rejected(observations):
    pts, bs, pose = observations[0]
    pts = pts.copy()
    pts[10, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        expression_features(pts, bs, pose)
