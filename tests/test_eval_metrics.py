"""Evaluation metrics on real crops: the sharpness ratio and per-region SSIM / region masks
(Wolfgang clip, tracked by the real MediaPipe face landmarker)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from support.tracking import tracked_frames

from latentcam.facekit import landmarks as lm
from latentcam.facekit.geometry import alignment_matrix, transform_points, warp_to_crop
from latentcam.latent.dataset import face_mask
from latentcam.latent.evaluate import image_metrics, sharpness_ratio
from latentcam.latent.face_regions import PARTS, face_parts, region_masks

SIZE = 256


@pytest.fixture(scope="module")
def crops(testdata):
    """Aligned 256² crops, face masks in [0, 1] and crop landmarks of Wolfgang frames 0–40."""
    out = []
    for i, frame, face in tracked_frames(testdata / "WolfgangLanger_Pexels.mp4", max_frames=41):
        if i % 10 or face is None:
            continue
        m = alignment_matrix(face.landmarks_px, SIZE)
        pts = transform_points(face.landmarks_px, m)
        out.append((warp_to_crop(frame, m, SIZE), face_mask(pts, SIZE) / 255.0, pts))
    assert len(out) >= 4
    return out


def test_real_crop_is_as_sharp_as_itself_and_blur_scores_lower(crops):
    for crop, mask, _ in crops:
        assert sharpness_ratio(crop, crop, mask) == pytest.approx(1.0)
        soft = sharpness_ratio(cv2.GaussianBlur(crop, (0, 0), 1.0), crop, mask)
        softer = sharpness_ratio(cv2.GaussianBlur(crop, (0, 0), 2.0), crop, mask)
        assert softer < soft < 0.9
        assert softer < 0.75


def test_sharpness_ignores_the_render_alpha_edge_and_mild_noise(crops):
    rng = np.random.default_rng(0)
    for crop, mask, _ in crops:
        # The face pasted on black with a hard edge: the outline must not read as detail.
        pasted = np.where((mask >= 0.5)[..., None], crop, 0).astype(np.uint8)
        assert sharpness_ratio(pasted, crop, mask) == pytest.approx(1.0, abs=0.02)
        noisy = np.clip(crop + rng.normal(0, 3, crop.shape), 0, 255).astype(np.uint8)
        assert sharpness_ratio(noisy, crop, mask) == pytest.approx(1.0, abs=0.05)
        # A flat face (the mean colour) has no detail at all.
        flat = np.full_like(crop, crop[mask > 0.5].mean(0).astype(np.uint8))
        assert sharpness_ratio(flat, crop, mask) < 0.05


def test_region_masks_cover_their_landmarks_and_partition_the_face(crops):
    for crop, mask, pts in crops:
        r = region_masks(pts, SIZE)
        xy = np.round(pts[:, :2]).astype(int)
        for name, ids in (("mouth", lm.LIPS_OUTER + lm.LIPS_INNER),
                          ("eyes", lm.RIGHT_EYE + lm.LEFT_EYE)):
            inside = r[name][xy[list(ids), 1], xy[list(ids), 0]]
            assert inside.all(), name
        assert r["rest"][xy[lm.NOSE_TIP, 1], xy[lm.NOSE_TIP, 0]] == 1
        assert not (r["mouth"] * r["eyes"]).any() and not (r["rest"] * (r["mouth"] + r["eyes"])).any()
        # The mouth region is a small part of the face, the eyes smaller still.
        face = (mask >= 0.5).sum()
        assert 0.03 < r["mouth"].sum() / face < 0.2 and 0.02 < r["eyes"].sum() / face < 0.15
        parts = face_parts(pts, SIZE)
        total = sum(parts[p].astype(int) for p in PARTS)
        assert total.max() == 1 and (total == 1).sum() == pytest.approx(face, rel=0.02)


def test_region_ssim_drops_only_where_the_image_changed(crops):
    crop, mask, pts = crops[0]
    r = region_masks(pts, SIZE)
    damaged = crop.copy()
    mouth = r["mouth"] > 0
    damaged[mouth] = cv2.GaussianBlur(crop, (0, 0), 3.0)[mouth]
    m = image_metrics(damaged, crop, mask, r)
    assert m["ssim_eyes"] > 0.99 and m["ssim_rest"] > 0.95
    assert m["ssim_mouth"] < 0.85
    assert m["sharpness_ratio"] < 1.0
    same = image_metrics(crop, crop, mask, r)
    assert same["ssim_mouth"] == pytest.approx(1.0) and same["sharpness_ratio"] == pytest.approx(1.0)


def test_blendshape_correlation_counts_what_moves_in_the_driver(single_face_clip):
    """On single_face's real blendshapes (a smile): a render that copies the driver scores r = 1
    on every moving blendshape, static ones do not count, a render frozen in one blendshape has
    no r there, and a region's r is the mean of its blendshapes' r."""
    from latentcam.facekit.blendshapes import INDEX, REGION_GROUPS
    from latentcam.latent.evaluate import blendshape_correlations, region_correlation

    driver = np.stack([f.blendshapes for _, _, f in tracked_frames(single_face_clip) if f is not None])
    each = blendshape_correlations(driver, driver)
    assert each["mouthSmileLeft"]["r"] == pytest.approx(1.0) and each["mouthSmileLeft"]["driver_sd"] > 0.3
    assert each["mouthFrownLeft"]["r"] is None                     # she never frowns
    frozen = driver.copy()
    frozen[:, INDEX["mouthSmileLeft"]] = 0.5
    smile_reversed = driver.copy()
    smile_reversed[:, INDEX["mouthSmileRight"]] = 1.0 - smile_reversed[:, INDEX["mouthSmileRight"]]
    assert blendshape_correlations(driver, frozen)["mouthSmileLeft"]["r"] is None
    mixed = blendshape_correlations(driver, smile_reversed)
    assert mixed["mouthSmileRight"]["r"] == pytest.approx(-1.0)
    moving = [mixed[n]["r"] for n in REGION_GROUPS["mouth"] if mixed[n]["r"] is not None]
    assert region_correlation(driver, smile_reversed)["mouth"] == pytest.approx(np.mean(moving))
    assert region_correlation(driver, smile_reversed)["mouth"] < region_correlation(driver, driver)["mouth"]


def test_lower_face_jerk_counts_wobble_not_movement(single_face_clip):
    """On single_face's real tracked faces: a render that copies the driver wobbles as much as
    the driver (ratio 1), one that follows the driver with a steady offset too, one that flickers
    a millimetre up and down every other frame wobbles more (ratio > 1), and only runs of three
    consecutive frames count."""
    from latentcam.facekit.geometry import canonicalize
    from latentcam.latent.evaluate import lower_face_jerk
    from latentcam.latent.features import lower_face_points

    faces = [(i, f) for i, _, f in tracked_frames(single_face_clip) if f is not None]
    index = [i for i, _ in faces]
    driver = [canonicalize(f.landmarks_px).points for _, f in faces]
    same = lower_face_jerk(driver, driver, index)
    assert same["ratio"] == pytest.approx(1.0) and same["driver_cm"] > 0
    assert lower_face_jerk(driver, [p + 0.3 for p in driver], index)["ratio"] == pytest.approx(1.0)
    flicker = [p.copy() for p in driver]
    for t in range(0, len(flicker), 2):
        flicker[t][lower_face_points(), 1] += 0.1
    assert lower_face_jerk(driver, flicker, index)["ratio"] > 1.5
    assert lower_face_jerk(driver[:3], driver[:3], [0, 1, 3]) is None
