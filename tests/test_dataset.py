"""`latentcam prepare` on real clips: dataset format, resumability, errors, coverage report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from latentcam.facekit.geometry import alignment_matrix, canonicalize, transform_points
from latentcam.latent import coverage
from latentcam.latent.dataset import (CHUNK_FRAMES, DatasetError, PrepareOptions, VideoSource,
                                      load_dataset, prepare)


@pytest.fixture(scope="module")
def single_dataset(tmp_path_factory, single_face_clip: Path):
    out = tmp_path_factory.mktemp("ds") / "single"
    result = prepare(VideoSource(single_face_clip), out, PrepareOptions(size=128))
    return out, result


def test_all_frames_kept_and_arrays_consistent(single_dataset):
    out, result = single_dataset
    assert result.frames == 72 and result.skipped_no_face == 0 and not result.resumed
    ds = load_dataset(out)
    assert len(ds) == 72 and ds.crop_size == 128 and not ds.synthetic
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "latentcam-dataset" and manifest["version"] == 1
    assert manifest["source"]["kind"] == "video" and manifest["source"]["path"] == "single_face.mp4"
    assert len(manifest["source"]["sha256"]) == 64 and manifest["fps"] == pytest.approx(30.0)
    np.testing.assert_array_equal(ds.frame_index, np.arange(72))
    for i in (0, 35, 71):
        m = alignment_matrix(ds.landmarks_px[i], 128)
        np.testing.assert_allclose(ds.alignment[i], m, atol=1e-3)
        np.testing.assert_allclose(ds.crop_landmarks[i], transform_points(ds.landmarks_px[i], m),
                                   atol=1e-2)
        np.testing.assert_allclose(ds.canonical[i], canonicalize(ds.landmarks_px[i]).points, atol=1e-3)
        crop, mask = ds.crop(i), ds.mask(i)
        assert crop.shape == (128, 128, 3) and mask.shape == (128, 128)
        # The mask is the face: non-empty, full inside at the nose tip, empty in the corners.
        nose = np.round(ds.crop_landmarks[i, 1, :2]).astype(int)
        assert mask[nose[1], nose[0]] == 255 and mask[0, 0] == 0
        assert 0.2 < (mask > 127).mean() < 0.8
    # The man smiles during the clip: the smile score rises well above the first frame's.
    smile = ds.blendshapes[:, [44, 45]].mean(axis=1)
    assert smile.max() > smile[0] + 0.5
    # The background plate is a full source frame, and its alignment reproduces the crop.
    bg = ds.background()
    assert bg.shape == (360, 640, 3)
    k = ds.manifest["background_dataset_index"]
    assert ds.manifest["background_frame"] == int(ds.frame_index[k])
    recrop = cv2.warpAffine(bg, ds.background_alignment, (128, 128))
    assert np.abs(recrop.astype(int) - ds.crop(k).astype(int))[16:-16, 16:-16].mean() < 3


def test_rerun_does_no_work(single_dataset, single_face_clip):
    out, _ = single_dataset
    stamps = {p: p.stat().st_mtime_ns for p in (out / "crops").glob("*.png")}
    result = prepare(VideoSource(single_face_clip), out, PrepareOptions(size=128))
    assert result.processed_now == 0 and result.resumed and result.frames == 72
    assert {p: p.stat().st_mtime_ns for p in (out / "crops").glob("*.png")} == stamps


def test_other_options_in_same_folder_is_an_error(single_dataset, single_face_clip):
    out, _ = single_dataset
    with pytest.raises(DatasetError, match="different source or with different options"):
        prepare(VideoSource(single_face_clip), out, PrepareOptions(size=64))


def test_interrupted_run_continues(tmp_path, single_face_clip):
    out = tmp_path / "ds"

    def interrupt(done, total):
        if done >= CHUNK_FRAMES + 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(VideoSource(single_face_clip), out, PrepareOptions(size=64), progress=interrupt,
                coverage=False)
    assert not (out / "manifest.json").exists()
    with pytest.raises(DatasetError, match="unfinished build"):
        load_dataset(out)
    result = prepare(VideoSource(single_face_clip), out, PrepareOptions(size=64), coverage=False)
    assert result.resumed and result.processed_now == 72 - CHUNK_FRAMES
    ds = load_dataset(out)
    np.testing.assert_array_equal(ds.frame_index, np.arange(72))
    assert not (out / ".partial").exists()


def test_every_and_max_frames(tmp_path, single_face_clip):
    result = prepare(VideoSource(single_face_clip, every=5), tmp_path / "d",
                     PrepareOptions(size=64, max_frames=6), coverage=False)
    ds = load_dataset(tmp_path / "d")
    assert result.frames == 6
    np.testing.assert_array_equal(ds.frame_index, [0, 5, 10, 15, 20, 25])


def test_no_face_video_is_a_clear_error(tmp_path, testdata):
    with pytest.raises(DatasetError, match="no face found in any of the .* frames of no_face.mp4"):
        prepare(VideoSource(testdata / "no_face.mp4"), tmp_path / "d", coverage=False)


def test_partial_face_clip_counts_skipped_frames(tmp_path, testdata):
    result = prepare(VideoSource(testdata / "face_noface.mov", every=3), tmp_path / "d",
                     PrepareOptions(size=64), coverage=False)
    ds = load_dataset(tmp_path / "d")
    assert result.skipped_no_face > 0 and result.frames > 0
    assert ds.manifest["skipped_no_face"] == result.skipped_no_face
    assert len(ds) == result.frames


def test_corrupt_and_missing_video(tmp_path, single_face_clip):
    bad = tmp_path / "corrupt.mp4"
    data = single_face_clip.read_bytes()
    bad.write_bytes(data[:64] + bytes(np.random.default_rng(0).integers(0, 255, 20000, np.uint8)))
    with pytest.raises(DatasetError, match="cannot read video .*corrupt"):
        VideoSource(bad)
    with pytest.raises(DatasetError, match="video not found"):
        VideoSource(tmp_path / "missing.mp4")


def test_cli_prepare_and_errors(tmp_path, single_face_clip, testdata):
    from latentcam.cli import build_app

    runner = CliRunner()
    app = build_app()
    res = runner.invoke(app, ["prepare", str(testdata / "no_face.mp4"), "--out", str(tmp_path / "n")])
    assert res.exit_code == 2 and "error: no face found" in res.output    # bad input: exit code 2
    res = runner.invoke(app, ["prepare", str(single_face_clip), "--out", str(tmp_path / "s"),
                              "--size", "64", "--every", "4"])
    assert res.exit_code == 0, res.output
    assert "18 frames kept" in res.output and "no open-mouth frames" in res.output
    assert (tmp_path / "s" / "coverage.png").stat().st_size > 10_000
    res = runner.invoke(app, ["prepare", str(single_face_clip), "--out", str(tmp_path / "s"),
                              "--size", "64", "--every", "4"])
    assert res.exit_code == 0 and "nothing to do" in res.output


def test_load_dataset_rejects_damage(single_dataset, tmp_path):
    src, _ = single_dataset
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    arrays = load_file(str(out / "observations.safetensors"))
    arrays["pose"] = arrays["pose"][:-1]
    save_file(arrays, str(out / "observations.safetensors"))
    with pytest.raises(DatasetError, match="'pose' has shape"):
        load_dataset(out)
    shutil.copy(src / "observations.safetensors", out / "observations.safetensors")
    (out / "crops" / "000010.png").unlink()
    with pytest.raises(DatasetError, match="images missing"):
        load_dataset(out)
    with pytest.raises(DatasetError, match="not a latentcam dataset"):
        load_dataset(tmp_path)


def test_coverage_names_gaps_of_single_face(single_dataset):
    out, result = single_dataset
    text = (out / "coverage.txt").read_text()
    assert "no open-mouth frames" in text and "no open-mouth frames" in result.coverage_text
    assert "head never turned left beyond 10°" in text
    assert "no smiling frames" not in text        # the man smiles
    assert (out / "coverage.png").stat().st_size > 10_000


def test_coverage_combinations_and_thresholds():
    n = 20
    b = np.zeros((n, 52), np.float32)
    pose = np.zeros((n, 3), np.float32)
    b[:10, [44, 45]] = 0.9          # smiling
    b[10:, [9, 10]] = 0.9           # eyes closed, not smiling
    pose[:5, 0] = 20                # turned left
    report = coverage.analyse(b, pose)
    assert "eyes never closed while smiling" in report.gaps
    assert "eyes never closed" not in report.gaps and "no smiling frames" not in report.gaps
    assert "head never turned left beyond 10°" not in report.gaps
    assert "head never turned right beyond 10°" in report.gaps
    b[:5, [9, 10]] = 0.9            # now some smile with eyes closed
    assert "eyes never closed while smiling" not in coverage.analyse(b, pose).gaps
