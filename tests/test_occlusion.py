"""Occluded training frames on real data: Wolfgang frames 36–83, where her hand comes up over
her mouth at frame 58 (found by the real MediaPipe HandLandmarker inside ``latentcam prepare``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from latentcam.facekit import landmarks as lm
from latentcam.facekit.model_file import HAND_MODEL_PATH, ModelFileError, verify_hand_model
from latentcam.latent.dataset import (OBSERVATIONS_NAME, OCCLUSION_DIR, PrepareOptions,
                                      VideoSource, load_dataset, prepare)
from latentcam.latent.face_regions import PARTS
from latentcam.latent.training_data import load_training_data

FIRST, STOP = 36, 84          # clip frames in the dataset
HAND_FROM = 58                # first clip frame with a hand over the mouth
SIZE = 128


class _Slice(VideoSource):
    """The clip's frames FIRST..STOP-1 only (prepare tracks from the start of the source)."""

    def frames(self, start: int = 0):
        for frame in super().frames(max(start, FIRST)):
            if frame.index >= STOP:
                return
            yield frame


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, testdata):
    out = tmp_path_factory.mktemp("occ") / "wolfgang"
    result = prepare(_Slice(testdata / "WolfgangLanger_Pexels.mp4"), out, PrepareOptions(size=SIZE))
    return out, result


def test_hand_over_the_mouth_is_found_and_clean_frames_are_not(dataset):
    out, _ = dataset
    ds = load_dataset(out)
    assert ds.occlusion_checked and len(ds) == STOP - FIRST
    occluded = set(ds.frame_index[ds.occluded].tolist())
    assert not occluded & set(range(FIRST, HAND_FROM))            # clean frames stay clean
    assert set(range(HAND_FROM + 2, STOP)) <= occluded            # the hand is found
    k = PARTS.index
    for i in np.flatnonzero(ds.frame_index >= HAND_FROM + 2):
        assert ds.occluded_parts[i, k("mouth")] > 0.3, ds.frame_index[i]
        assert ds.occluded_parts[i, k("chin")] > 0.5, ds.frame_index[i]
        assert ds.occluded_parts[i, k("eyes")] == 0 and ds.occluded_parts[i, k("forehead")] == 0
        mask = ds.occlusion_mask(i)
        # Between the lower lip and the chin: under her fingers in every one of these frames.
        below_lip = (ds.crop_landmarks[i, 17, :2] + ds.crop_landmarks[i, lm.CHIN, :2]) / 2
        x, y = np.round(below_lip).astype(int)
        assert mask[y, x] == 255
        x, y = np.round(ds.crop_landmarks[i, lm.RIGHT_EYE_TOP, :2]).astype(int)
        assert mask[y, x] == 0
    for i in np.flatnonzero(ds.frame_index < HAND_FROM):
        assert not ds.occlusion_mask(i).any()
    # The background plate is a frame without a hand.
    assert ds.manifest["background_frame"] < HAND_FROM
    assert ds.manifest["occlusion"]["occluded"] == len(occluded)


def test_coverage_report_counts_occluded_frames_and_names_the_parts(dataset):
    out, result = dataset
    n = int(load_dataset(out).occluded.sum())
    line = next(s for s in result.coverage_text.splitlines() if s.startswith("Occlusion:"))
    assert f"a hand covers the face in {n} of {STOP - FIRST} frames" in line
    assert "mouth" in line and "eyes" not in line
    assert line in (out / "coverage.txt").read_text()


def test_training_loss_ignores_what_is_under_the_hand(dataset):
    import torch

    from latentcam.latent.train import BatchMaker, TrainOptions, reconstruction_losses

    out, _ = dataset
    data = load_training_data(out, 64)
    assert data.occlusion_checked and data.occluded.sum() >= STOP - HAND_FROM - 2
    valid = data.valid
    i = int(np.flatnonzero(data.occluded)[-1])
    assert valid[i].min() == 0 and valid[~data.occluded].min() == 1
    # Through the batch maker, with no region mixing: the hand's pixels get weight 0.
    sub = data.subset(np.array([i]))
    opts = TrainOptions(out, out / "unused", region_mix=0.0, jitter_cm=0.0, rigid_jitter=0.0)
    images, masks, feats, v = BatchMaker(sub, opts, np.random.default_rng(0), torch.device("cpu"))(2)
    hand = v[:, :1] == 0
    assert hand.sum() > 0.05 * hand.numel()
    torch.manual_seed(0)
    bgr = torch.rand_like(images, requires_grad=True)
    alpha = torch.rand_like(masks, requires_grad=True)
    before = reconstruction_losses(bgr, alpha, images, masks, v)
    sum(before.values()).backward()
    # No gradient under the hand, beyond SSIM's window (radius 5) from its edge, where the
    # windows only hold the render's own colour there.
    inner = ~torch.nn.functional.max_pool2d((~hand).float(), 13, stride=1, padding=6).bool()
    assert inner.sum() > 0.02 * inner.numel()
    assert bgr.grad[inner.expand_as(bgr)].abs().max() == 0
    assert bgr.grad[~hand.expand_as(bgr)].abs().max() > 0
    # Whatever the hand looks like, the loss is the same; elsewhere a change counts.
    painted = torch.where(hand.expand_as(images), torch.rand_like(images), images)
    after = reconstruction_losses(bgr, alpha, painted, masks, v)
    for k in before:
        assert after[k].item() == pytest.approx(before[k].item(), rel=1e-6), k
    clean = torch.where(hand.expand_as(images), images, torch.rand_like(images))
    assert reconstruction_losses(bgr, alpha, clean, masks, v)["l1"].item() != pytest.approx(
        before["l1"].item(), rel=1e-3)


def test_reference_frames_are_picked_among_unoccluded_ones(dataset):
    from latentcam.latent.evaluate import neutral_reference

    out, _ = dataset
    data = load_training_data(out, 64)
    # In this slice the least expressive frame has a hand over the mouth; the one-photo
    # baseline's reference must not.
    j = neutral_reference(data)
    assert not data.occluded[j] and data.frame_index[j] < HAND_FROM
    everyone = data.subset(np.arange(len(data)))
    object.__setattr__(everyone, "occluded_fraction", np.zeros(len(data), np.float32))
    assert data.occluded[neutral_reference(everyone)]       # what it would pick otherwise


def test_dataset_without_occlusion_files_loads_as_unoccluded(dataset, tmp_path):
    from safetensors.numpy import load_file, save_file

    from latentcam.latent import coverage

    out, _ = dataset
    old = tmp_path / "old"
    shutil.copytree(out, old)
    shutil.rmtree(old / OCCLUSION_DIR)
    arrays = load_file(str(old / OBSERVATIONS_NAME))
    for k in ("hand_count", "hand_landmarks", "occluded_parts", "occluded_fraction"):
        del arrays[k]
    save_file(arrays, str(old / OBSERVATIONS_NAME))
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["occlusion"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    ds = load_dataset(old)
    assert not ds.occlusion_checked and not ds.occluded.any()
    assert not ds.occlusion_mask(len(ds) - 1).any()
    data = load_training_data(old, 64)
    assert not data.occlusion_checked and not data.occluded.any() and data.valid.min() == 1
    text = coverage.write_report(ds, old).text()
    assert "Occlusion: not checked" in text and "--force" in text


def test_hand_model_is_verified_before_loading(tmp_path):
    assert len(verify_hand_model()) == HAND_MODEL_PATH.stat().st_size
    bad = tmp_path / "hand_landmarker.task"
    bad.write_bytes(HAND_MODEL_PATH.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="hand model .* bytes, expected"):
        verify_hand_model(bad)
    with pytest.raises(ModelFileError, match="hand model not found"):
        verify_hand_model(tmp_path / "missing.task")


def test_unfinished_build_from_before_the_hand_check_resumes_as_unchecked(tmp_path):
    """A chunk committed by an older latentcam (no hand arrays) loads with its frames marked
    unchecked, so the finished dataset says so instead of calling them unoccluded."""
    from safetensors.numpy import save_file

    from latentcam.latent.dataset import RAW_SPECS, _load_chunks

    old = {k: np.zeros((3, *shape), dtype) for k, (shape, dtype) in RAW_SPECS.items()
           if k not in ("hand_landmarks_px", "hand_count")}
    save_file(old, str(tmp_path / "chunk_000000.safetensors"),
              metadata={"next_index": "3", "skipped": "0"})
    raw, next_index, skipped = _load_chunks(tmp_path)
    assert next_index == 3 and raw["hand_count"].tolist() == [-1, -1, -1]
    assert np.isnan(raw["hand_landmarks_px"]).all()
