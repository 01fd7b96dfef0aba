"""Reading dataset directories for training/eval: ranges, clear errors on damaged datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from latentcam.latent.evaluate import nearest_frames
from latentcam.latent.features import FEATURE_SIZE
from latentcam.latent.training_data import DatasetError, load_training_data, parse_frame_range


@pytest.fixture(scope="module")
def small(small_dataset):
    return small_dataset


def test_loads_and_resizes(small):
    d = load_training_data(small, 32)
    assert d.images.shape == (16, 32, 32, 3) and d.masks.shape == (16, 32, 32)
    assert d.features.shape == (16, FEATURE_SIZE) and d.images.dtype == np.uint8
    assert d.masks.max() == 255 and d.masks.min() == 0
    assert len(d.subset(np.array([0, 2]))) == 2


@pytest.mark.parametrize("spec,expected", [(None, 10), ("0:8", 8), ("8:", 2), ("0:0.8", 8),
                                           (":0.5", 5), ("2:4", 2)])
def test_frame_ranges(spec, expected):
    assert parse_frame_range(spec, 10).sum() == expected


@pytest.mark.parametrize("spec", ["5", "a:b", "9:3"])
def test_bad_frame_ranges(spec):
    with pytest.raises(DatasetError):
        parse_frame_range(spec, 10)


def test_damaged_datasets_say_what_to_do(small, tmp_path):
    with pytest.raises(DatasetError, match="latentcam prepare"):
        load_training_data(tmp_path / "none")
    bad = tmp_path / "bad"
    shutil.copytree(small, bad)
    (bad / "crops" / "000003.png").unlink()
    with pytest.raises(DatasetError, match="000003"):
        load_training_data(bad)
    (bad / "observations.safetensors").unlink()
    with pytest.raises(DatasetError, match="observations"):
        load_training_data(bad)
    m = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**m, "format": "other"}))
    with pytest.raises(DatasetError, match="format"):
        load_training_data(bad)


def test_nearest_frames_finds_itself(small):
    d = load_training_data(small, 32)
    assert np.array_equal(nearest_frames(d.features, d.features), np.arange(len(d)))


def test_nearest_landmarks_finds_itself_and_then_its_neighbours_in_time(small):
    """Each frame's own crop landmarks pick that frame; with it left out, most frames of a real
    clip pick a frame a few frames away (the face moves little between them)."""
    from latentcam.latent.evaluate import nearest_landmarks, training_crop_landmarks

    d = load_training_data(small, 32)
    lm = training_crop_landmarks(d, 32)
    assert lm.shape == (len(d), 478, 3)
    assert np.array_equal(nearest_landmarks(lm, lm), np.arange(len(d)))
    others = [np.delete(np.arange(len(d)), i) for i in range(len(d))]
    picks = [o[nearest_landmarks(lm[o], [lm[i]])[0]] for i, o in enumerate(others)]
    gaps = np.abs(d.frame_index[picks] - d.frame_index)
    assert np.mean(gaps <= 3) > 0.7, gaps
