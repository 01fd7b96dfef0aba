"""Training, bundles, ONNX export, exploration and evaluation on real data (single_face.mp4).

One small CPU training (64² crops, 40 frames, a few dozen steps) is shared by the module; every
other test uses its bundle, copied where a test damages it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.datasets import build_dataset

from latentcam.latent.bundle import BundleError, TargetBundle, write_manifest

STEPS = 60
SIZE = 64


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, single_face_clip) -> Path:
    return build_dataset(single_face_clip, tmp_path_factory.mktemp("data") / "sf", size=128,
                         max_frames=40)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset) -> Path:
    from latentcam.latent.train import TrainOptions, train

    out = tmp_path_factory.mktemp("target") / "bundle"
    opts = TrainOptions(dataset, out, size=SIZE, steps=STEPS, gan=False, batch_size=8, sample_every=40,
                        checkpoint_every=40, progress=False, licence="test clip, not shipped",
                        consent="test")
    assert train(opts) == out
    return out


def _reconstruction_l1(bundle_dir: Path, dataset: Path) -> float:
    from latentcam.latent.renderer import BundleRenderer
    from latentcam.latent.training_data import load_training_data

    data = load_training_data(dataset, SIZE)
    with BundleRenderer(TargetBundle.load(bundle_dir)) as r:
        errs = [np.abs(r.decode_float(r.encode(f))[..., :3] - img / 255.0).mean()
                for f, img in zip(data.features, data.images)]
    return float(np.mean(errs))


def test_training_beats_untrained_model(trained, dataset):
    import torch

    from latentcam.latent.presets import get_preset
    from latentcam.latent.train import TrainOptions, initial_model
    from latentcam.latent.training_data import load_training_data

    data = load_training_data(dataset, SIZE)
    torch.manual_seed(0)
    defaults = TrainOptions(dataset, dataset)
    model = initial_model(get_preset("cpu", size=SIZE, warp=defaults.warp), data).eval()
    with torch.no_grad():
        render = model(torch.from_numpy(data.features), sample=False)[0].numpy()
    untrained = float(np.abs(render[:, :3] - data.images.transpose(0, 3, 1, 2) / 255.0).mean())
    trained_err = _reconstruction_l1(trained, dataset)
    print(f"reconstruction L1: trained {trained_err:.4f}, untrained {untrained:.4f}")
    assert trained_err < 0.5 * untrained, (trained_err, untrained)


def test_training_writes_progress_artifacts(trained):
    work = trained / "training"
    assert (work / "loss_curves.png").is_file()
    assert sorted(p.name for p in (work / "samples").glob("*.png")) == ["step_000040.png",
                                                                       f"step_{STEPS:06d}.png"]
    state = json.loads((work / "checkpoint.json").read_text())
    assert state["step"] == STEPS
    assert state["history"][0]["total"] > state["history"][-1]["total"]


def test_bundle_manifest_contents(trained):
    b = TargetBundle.load(trained)
    assert b.resolution == SIZE and b.code_size == 128
    assert b.neutral_canonical.shape == (478, 3)
    assert set(b.pose_range) == {"yaw", "pitch", "roll"}
    assert b.background() is not None and b.background_alignment.shape == (2, 3)
    m = b.manifest
    assert m["consent"]["licence"] == "test clip, not shipped"
    assert m["provenance"]["frames_trained"] == 40
    assert m["onnx"]["opset"] == 17
    stats = b.latent_stats()
    assert stats["codes"].shape == (40, 128) and stats["components"].shape[1] == 128


def test_onnx_decoder_and_encoder_match_torch(trained):
    import onnxruntime as ort
    import torch

    from latentcam.latent.export import decoder_from_bundle, encoder_from_bundle

    b = TargetBundle.load(trained)
    dec, enc = decoder_from_bundle(b), encoder_from_bundle(b)
    z = np.random.default_rng(0).normal(size=(1, 128)).astype(np.float32)
    sess = ort.InferenceSession(str(b.decoder_onnx), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"z": z})[0]
    with torch.no_grad():
        ref = dec(torch.from_numpy(z)).numpy()
    assert got.shape == (1, 4, SIZE, SIZE)
    assert np.abs(got - ref).max() < 1e-4
    from latentcam.latent.training_data import load_training_data
    f = load_training_data(Path(b.manifest["provenance"]["dataset"]), SIZE).features[:1]
    sess_e = ort.InferenceSession(str(b.encoder_onnx), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        assert np.abs(sess_e.run(None, {"features": f})[0] - enc(torch.from_numpy(f)).numpy()).max() < 1e-4


def test_bundle_stores_parameters_at_half_precision(trained):
    """Parameters are fp16 in both the safetensors file and the ONNX graphs (the engines widen
    them to float32, checked above); the encoder's input standardisation stays float32."""
    import onnx
    from safetensors.numpy import load_file

    raw = load_file(str(trained / "weights.safetensors"))
    assert raw["decoder.fc.weight"].dtype == np.float16
    assert raw["encoder.feature_mean"].dtype == np.float32
    assert all(v.dtype == np.float32 for v in TargetBundle.load(trained).weights_numpy().values()
               if v.dtype.kind == "f")
    for name in ("decoder.onnx", "encoder.onnx"):
        inits = onnx.load(str(trained / name)).graph.initializer
        big = [t for t in inits if int(np.prod(t.dims)) >= 1024]
        half = [t for t in big if t.data_type == onnx.TensorProto.FLOAT16]
        assert len(half) >= len(big) - 2, (name, [(t.name, t.data_type) for t in big])


def test_resume_continues_from_checkpoint_within_time_budget(trained, dataset, tmp_path):
    from latentcam.latent.train import TrainOptions, train

    copy = tmp_path / "b"
    shutil.copytree(trained, copy)
    out = train(TrainOptions(dataset, copy, size=SIZE, steps=STEPS + 10_000, max_minutes=0.1, gan=False,
                             batch_size=8, sample_every=10_000, checkpoint_every=10_000,
                             progress=False))
    info = json.loads((out / "manifest.json").read_text())["provenance"]["training"]
    assert info["resumed_from"] == STEPS
    assert STEPS < info["steps"] < STEPS + 10_000          # stopped by the budget, not the count
    state = json.loads((copy / "training" / "checkpoint.json").read_text())
    assert state["step"] == info["steps"]
    assert TargetBundle.load(out).signer is not None     # re-signed: the earlier signature was replaced
    with pytest.raises(ValueError, match="cannot resume"):
        train(TrainOptions(dataset, copy, size=SIZE, steps=STEPS + 8, gan=True, batch_size=8,
                           progress=False))


# --- bundle validation ----------------------------------------------------------------------

@pytest.fixture()
def copy(trained, tmp_path) -> Path:
    """An unsigned copy (the signature would refuse every manifest edit below before the
    structural checks they test; signed bundles: the tests after these)."""
    dst = tmp_path / "bundle"
    shutil.copytree(trained, dst, ignore=shutil.ignore_patterns("training", "manifest.sig", "manifest.signer.pem"))
    return dst


def test_training_signs_the_bundle_with_the_local_identity(trained):
    from latentcam.provenance.identity import local_identity

    bundle = TargetBundle.load(trained, require_signed=True)
    assert bundle.signer is not None and bundle.signer.local
    assert bundle.signer.fingerprint == local_identity(create=False).fingerprint   # the tests' temporary one


def test_a_signed_bundle_with_one_edited_manifest_value_is_refused(trained, tmp_path):
    signed = tmp_path / "signed"
    shutil.copytree(trained, signed, ignore=shutil.ignore_patterns("training"))
    m = json.loads((signed / "manifest.json").read_text())
    m["consent"]["licence"] = "CC0, anything goes"             # every file hash still matches
    (signed / "manifest.json").write_text(json.dumps(m, indent=1))
    with pytest.raises(BundleError, match=r"changed after latentcam, .* signed it .*do not use it"):
        TargetBundle.load(signed)


def test_an_unsigned_bundle_loads_with_a_warning_or_is_refused_when_required(copy, caplog):
    with caplog.at_level("WARNING", logger="latentcam.latent.bundle"):
        assert TargetBundle.load(copy).signer is None
    assert "NOT SIGNED" in caplog.text and "latentcam sign-bundle" in caplog.text
    with pytest.raises(BundleError, match="not signed.*--require-signed"):
        TargetBundle.load(copy, require_signed=True)


def test_tampered_file_is_rejected(copy):
    p = copy / "decoder.onnx"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        TargetBundle.load(copy)


def test_truncated_file_is_rejected(copy):
    p = copy / "weights.safetensors"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(BundleError, match="truncated"):
        TargetBundle.load(copy)


def test_missing_file_is_rejected(copy):
    (copy / "encoder.onnx").unlink()
    with pytest.raises(BundleError, match="missing"):
        TargetBundle.load(copy)


@pytest.mark.parametrize("name", ["../outside.bin", "/etc/passwd", "samples/../../x", "C:\\x"])
def test_path_escape_is_rejected(copy, name):
    m = json.loads((copy / "manifest.json").read_text())
    m["files"]["decoder_onnx"]["name"] = name
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="outside the bundle|plain relative"):
        TargetBundle.load(copy)


def test_symlink_escape_is_rejected(copy, tmp_path):
    outside = tmp_path / "outside.onnx"
    shutil.copyfile(copy / "decoder.onnx", outside)
    (copy / "decoder.onnx").unlink()
    (copy / "decoder.onnx").symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle"):
        TargetBundle.load(copy)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(version=99), "version 99"),
    (lambda m: m.update(format="something-else"), "not a latentcam-target"),
    (lambda m: m.pop("neutral_canonical"), "neutral_canonical"),
    (lambda m: m.update(neutral_canonical=[[0, 0, 0]]), "shape"),
])
def test_bad_manifest_is_rejected(copy, edit, match):
    m = json.loads((copy / "manifest.json").read_text())
    edit(m)
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=match):
        TargetBundle.load(copy)


def test_not_json_and_not_a_bundle(copy, tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        TargetBundle.load(tmp_path / "nothing")
    (copy / "manifest.json").write_text("{ not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        TargetBundle.load(copy)


def test_rewritten_manifest_round_trips(copy):
    m = json.loads((copy / "manifest.json").read_text())
    m["name"] = "renamed"
    write_manifest(copy, m)
    assert TargetBundle.load(copy).name == "renamed"


def test_loading_and_rendering_do_not_import_torch(trained):
    code = ("import sys; from latentcam.latent.bundle import TargetBundle; "
            "from latentcam.latent.renderer import BundleRenderer; import numpy as np; "
            f"b = TargetBundle.load({str(trained)!r}); r = BundleRenderer(b); "
            "img = r.render(np.zeros(b.feature_size, np.float32)); "
            "assert img.shape == (b.resolution, b.resolution, 4) and img.dtype == np.uint8; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- explore and eval -----------------------------------------------------------------------

def test_explore_writes_grid(trained, tmp_path):
    import cv2

    from latentcam.latent.explore import ExploreOptions, explore

    png = explore(trained, tmp_path / "g.png", ExploreOptions(directions=3, steps=5, tile=64))
    img = cv2.imread(str(png))
    assert img.shape == (4 * 64, 5 * 64, 3)
    rows = img.reshape(4, 64, 5 * 64, 3).astype(float)
    assert np.abs(rows[0, :, :64] - rows[0, :, -64:]).mean() > 1.0   # the direction changes the face
    with pytest.raises(ValueError, match="outside"):
        explore(trained, tmp_path / "h.png", ExploreOptions(pair=(0, 999)))


def test_eval_self_reports_model_and_baselines(trained, dataset, single_face_clip, tmp_path):
    from latentcam.latent.evaluate import EvalOptions, evaluate_self

    out = tmp_path / "ev"
    r = evaluate_self(trained, single_face_clip, EvalOptions(frames="30:40", out_dir=out,
                                                             train_data=dataset))
    assert r["frames_evaluated"] == 10
    for name in ("model", "nearest_frame"):
        m = r[name]
        assert 0 < m["face_ssim"] <= 1 and m["face_psnr"] > 5
        assert 0 <= m["render_tracked_fraction"] <= 1
    # nearest frame on frames the model was trained on copies the real crop: near perfect
    assert r["nearest_frame"]["face_psnr"] > 30
    assert set(r["model"].get("blendshape_mae", {"mouth": 0, "eyes": 0, "brows": 0})) >= {"mouth", "eyes", "brows"}
    for f in ("report.json", "report.md", "side_by_side.png"):
        assert (out / f).is_file()
    # Sharpness and region SSIM, printed and written: the nearest frame *is* a real crop of
    # these (trained) frames, so it is about as sharp as the video; a 60-step model is softer.
    assert r["nearest_frame"]["sharpness_ratio"] == pytest.approx(1.0, abs=0.1)
    assert 0.2 < r["model"]["sharpness_ratio"] < r["nearest_frame"]["sharpness_ratio"]
    for k in ("ssim_mouth", "ssim_eyes", "ssim_rest"):
        assert 0 < r["model"][k] < r["nearest_frame"][k] <= 1
    # The nearest warp picks the frame with the driver's own landmarks here (trained frames) and
    # warps it onto them: close to the real crop, far closer than the 60-step model.
    assert r["nearest_warp"]["face_psnr"] > 25
    assert r["nearest_warp"]["face_ssim"] > r["model"]["face_ssim"] + 0.03
    written = json.loads((out / "report.json").read_text())["model"]
    assert written["sharpness_ratio"] == pytest.approx(r["model"]["sharpness_ratio"])
    md = (out / "report.md").read_text()
    assert "sharpness ratio" in md and "SSIM mouth / eyes / rest" in md and "| nearest_warp |" in md
    from typer.testing import CliRunner

    from latentcam.cli import build_app

    res = CliRunner().invoke(build_app(), ["eval", str(trained), "--video", str(single_face_clip),
                                           "--frames", "30:33", "--train-data", str(dataset),
                                           "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "sharpness ratio" in res.output and "SSIM mouth / eyes / rest" in res.output


def test_eval_cross_and_errors(trained, testdata, tmp_path):
    from latentcam.latent.evaluate import EvalError, EvalOptions, evaluate_cross

    r = evaluate_cross(trained, testdata / "WolfgangLanger_Pexels.mp4",
                       EvalOptions(frames="0:12", out_dir=tmp_path / "x"))
    assert r["mode"] == "cross" and r["frames_evaluated"] == 12
    assert r["lower_face_jerk"]["triples"] >= 8 and r["lower_face_jerk"]["render_cm"] > 0
    with pytest.raises(EvalError, match="no face"):
        evaluate_cross(trained, testdata / "no_face.mp4", EvalOptions(max_frames=5))
    with pytest.raises(EvalError, match="cannot open"):
        evaluate_cross(trained, tmp_path / "missing.mp4")


# --- command line ---------------------------------------------------------------------------

def test_eval_retargets_onto_the_same_target_geometry_as_live(trained):
    """One function builds the retargeter's target for live and eval: same manifest ranges."""
    from latentcam.calibration import TargetGeometry
    from latentcam.realtime.target import default_target_dir, load_live_target, target_geometry
    from latentcam.eval_command import calibrated_driver

    for bundle_dir in (trained, default_target_dir()):
        live = target_geometry(load_live_target(bundle_dir))
        manifest = load_live_target(bundle_dir).bundle.manifest
        expected = TargetGeometry.from_manifest(manifest)
        assert dict(live.blendshape_ranges) == dict(expected.blendshape_ranges)
        evaluated = calibrated_driver(bundle_dir, None).retargeter.target
        for field in ("neutral_points", "pose_min", "pose_max", "neutral_pose", "neutral_blendshapes"):
            np.testing.assert_array_equal(getattr(evaluated, field), getattr(live, field))
        assert dict(evaluated.blendshape_ranges) == dict(live.blendshape_ranges)
    # the embedded target has blendshape ranges: live must not drop them
    assert dict(target_geometry(load_live_target()).blendshape_ranges) == \
        load_live_target().bundle.manifest["blendshape_ranges"]


def test_cli_eval_explore_and_errors(trained, testdata, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentcam.cli import build_app

    runner = CliRunner()
    app = build_app()
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cli_eval"
    res = runner.invoke(app, ["eval", str(trained), "--video", str(testdata / "single_face.mp4"),
                              "--mode", "cross", "--frames", "0:10", "--self-calibrate",
                              "--out", "cli_eval"])                 # relative: resolved against cwd
    assert res.exit_code == 0, res.output
    assert json.loads((out / "report.json").read_text())["frames_evaluated"] == 10
    assert f"(in {out.resolve()})" in res.output                  # says where it wrote
    res = runner.invoke(app, ["explore", str(trained), "--out", str(tmp_path / "e.png"),
                              "--directions", "2", "--steps", "3"])
    assert res.exit_code == 0 and (tmp_path / "e.png").is_file(), res.output
    res = runner.invoke(app, ["eval", str(tmp_path / "nope"), "--video", str(testdata / "single_face.mp4")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["eval", str(trained), "--video", "x.mp4", "--mode", "sideways"])
    assert res.exit_code == 2 and "--mode" in res.output
    res = runner.invoke(app, ["train", str(tmp_path / "nodata"), "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "latentcam prepare" in res.output
