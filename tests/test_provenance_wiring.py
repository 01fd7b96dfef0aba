"""Provenance wired into latentcam (issue 13's "must show"): the watermark stage in the live loop,
Content Credentials on every recording, signed target bundles — through the real command line
on the real sample clip where the issue asks for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from latentcam.latent.bundle import BundleError, TargetBundle
from latentcam.provenance.bundle_signature import SIGNATURE_FILE, SIGNER_FILE
from latentcam.provenance.identity import PROJECT_ORGANIZATION
from latentcam.provenance.watermark import WatermarkDetector
from latentcam.realtime.config import ConfigError, LiveConfig, apply_overrides, load_config
from latentcam.realtime.marking import WatermarkSettings, WatermarkStage, sign_recording
from latentcam.realtime.stages import SinkBinding
from latentcam.realtime.sinks import SinkOptions

from support.sinks import KeepingSink

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO / "latentcam" / "assets" / "default_target"
#: sha256 of the certificate scripts/sign_default_target.py made when it signed the default target.
PROJECT_CERT_SHA256 = "cf509c6b854596dfb9e94b25a565548e474d6aeab45f88bf380ba86d93f7ba26"
DEFAULT_ID = "5a33b553"          # the default target's watermark id (its manifest's sha256[:4])
MARK_ID = 0x1234ABCD


def cli(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentcam", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def verify(path: Path) -> tuple[int, dict]:
    run = cli("verify", "--json", path)
    return run.returncode, json.loads(run.stdout)[0]


# --- signed bundles -------------------------------------------------------------------------

def test_the_embedded_default_target_loads_as_signed_by_the_one_off_project_identity():
    bundle = TargetBundle.load(DEFAULT_TARGET, require_signed=True)
    assert bundle.signer is not None and not bundle.signer.local
    assert PROJECT_ORGANIZATION in bundle.signer.subject and "not a trusted issuer" in bundle.signer.subject
    assert bundle.signer.fingerprint == PROJECT_CERT_SHA256
    assert f"{bundle.watermark_id:08x}" == DEFAULT_ID
    assert "scripts/sign_default_target.py" in (DEFAULT_TARGET / "README.md").read_text()


def test_a_copy_of_the_default_target_with_one_edited_value_is_refused_live(tmp_path: Path):
    from latentcam.realtime.target import TargetError, load_live_target

    copy = tmp_path / "astronaut"
    shutil.copytree(DEFAULT_TARGET, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["consent"]["statement"] = "consent given for anything"
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=1))
    with pytest.raises(TargetError, match="changed after latentcam project.* signed it .*do not use it") as refused:
        load_live_target(copy)
    assert refused.value.exit_code == 2                                  # bad input, as a BundleError
    with pytest.raises(BundleError, match="changed after"):
        TargetBundle.load(copy)


def test_an_unsigned_target_is_refused_with_require_signed(tmp_path: Path):
    from latentcam.realtime.target import TargetError, load_live_target

    copy = tmp_path / "astronaut"
    shutil.copytree(DEFAULT_TARGET, copy, ignore=shutil.ignore_patterns(SIGNATURE_FILE, SIGNER_FILE))
    assert load_live_target(copy).bundle.signer is None              # loads, with a warning
    with pytest.raises(TargetError, match="not signed.*--require-signed"):
        load_live_target(copy, require_signed=True)


# --- the watermark stage in the live loop ---------------------------------------------------

def _run_views(clip: Path, watermark: WatermarkSettings, label: bool):
    """Five frames of the clip through composite → label → watermark → sinks, into an output, a
    preview and a side-by-side sink; returns the sinks and the telemetry."""
    from latentcam.realtime.composite import CompositeOptions, Compositor
    from latentcam.realtime.label import SyntheticLabel
    from latentcam.realtime.pipeline import Controls, LivePipeline, PipelineOptions, Stages
    from latentcam.realtime.replay import FramesSource, load_clip

    frames, _ = load_clip(clip, (640, 360), max_frames=5)
    stages = Stages(compositor=Compositor(CompositeOptions(), 256, (640, 360)), label=SyntheticLabel(),
                    watermark=WatermarkStage(MARK_ID, watermark))
    out, preview, sbs = (KeepingSink(SinkOptions(640, 360, 30)), KeepingSink(SinkOptions(640, 360, 30)),
                         KeepingSink(SinkOptions(1280, 360, 30)))
    with FramesSource(frames, 5) as source:
        tel = LivePipeline(source, stages, [SinkBinding(out, "output"), SinkBinding(preview, "preview"),
                                            SinkBinding(sbs, "side-by-side")],
                           PipelineOptions(), controls=Controls(label=label)).run()
    return out, preview, sbs, tel


def test_every_view_carries_the_mark_over_the_whole_frame_and_no_label_keeps_it(single_face_clip):
    out, preview, sbs, tel = _run_views(single_face_clip, WatermarkSettings(), label=False)
    detector = WatermarkDetector()
    for sink in (out, preview, sbs):                  # virtual camera / recording, preview, demo layout
        found = [detector.detect(f) for f in sink.frames]
        assert all(d.found and d.bundle_id == MARK_ID for d in found), (sink, found)
    # the side-by-side frame is marked once, as a whole: neither half alone holds the 64 bits at
    # their own chip grid, and the output half is not marked a second time
    right = sbs.frames[-1][:, 640:]
    assert not detector.detect(np.ascontiguousarray(right)).found
    assert np.isfinite(tel.stage_ms("watermark")).all() and np.nanmedian(tel.stage_ms("watermark")) > 0


def test_no_watermark_leaves_every_view_unmarked(single_face_clip):
    out, preview, sbs, tel = _run_views(single_face_clip, WatermarkSettings(enabled=False), label=True)
    detector = WatermarkDetector()
    for sink in (out, preview, sbs):
        assert not any(detector.detect(f).found for f in sink.frames)


def test_watermark_and_signing_settings_in_the_config_file(tmp_path: Path):
    path = tmp_path / "live.toml"
    path.write_text('require_signed = true\n[watermark]\nenabled = false\n'
                    '[signing]\ncert = "chain.pem"\nkey = "key.pem"\n')
    cfg = load_config(path)
    assert not cfg.watermark.enabled and cfg.require_signed
    assert (cfg.signing.cert, cfg.signing.key) == ("chain.pem", "key.pem")
    assert LiveConfig().watermark.enabled                                              # on by default
    assert apply_overrides(LiveConfig(), {"label.enabled": False}).watermark.enabled  # --no-label keeps it
    path.write_text("[watermark]\nstrength = 4\n")
    with pytest.raises(ConfigError, match="unknown setting 'watermark.strength'.*known in watermark: enabled"):
        load_config(path)
    with pytest.raises(ConfigError, match="both signing.cert and signing.key"):
        apply_overrides(LiveConfig(), {"signing.cert": "chain.pem"})
    with pytest.raises(ConfigError, match="at least 90 pixels high.*--no-watermark"):
        apply_overrides(LiveConfig(), {"output.size": "160x80"})
    assert apply_overrides(LiveConfig(), {"output.size": "160x80", "watermark.enabled": False})


# --- Content Credentials on recordings --------------------------------------------------------

def test_a_recording_that_cannot_be_signed_is_kept_and_says_why(tmp_path: Path, single_face_clip):
    from latentcam.facekit.video_writer import VideoFileWriter
    from latentcam.provenance.identity import SigningIdentity, local_identity

    path = tmp_path / "rec.mp4"
    cap = cv2.VideoCapture(str(single_face_clip))
    with VideoFileWriter(path, 30, (int(cap.get(3)), int(cap.get(4)))) as writer:
        for _ in range(5):
            writer.write(cap.read()[1])
    cap.release()
    before = path.read_bytes()
    a, b = local_identity(tmp_path / "a"), local_identity(tmp_path / "b")
    mismatched = SigningIdentity(a.chain_pem, b.key_pem, local=True, source="test: a's chain, b's key")
    result = sign_recording(path, DEFAULT_TARGET, watermark=True, identity=mismatched)
    assert not result.signed and path.read_bytes() == before
    assert "kept UNSIGNED" in result.warning and "C2PA signing failed" in result.warning


def test_an_unusable_certificate_is_refused_before_anything_is_recorded(tmp_path: Path, single_face_clip):
    out = tmp_path / "rec.mp4"
    run = cli("live", "--source", single_face_clip, "--record", out, "--sign-cert", tmp_path / "none.pem",
              "--sign-key", tmp_path / "none-key.pem", "--max-frames", 3, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "cannot sign recordings with --sign-cert/--sign-key" in run.stderr and "not found" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "demo.mp4"
    run = cli("demo", "--out", out)
    assert run.returncode == 0, run.stderr
    return out, run


def test_latentcam_demo_verifies_as_signed_synthetic_and_watermarked(demo):
    path, run = demo
    assert "Content Credentials (C2PA) signed by latentcam" in run.stderr
    assert "LOCAL identity" in run.stderr                       # the caveat is printed
    code, report = verify(path)
    m, w = report["manifest"], report["watermark"]
    assert code == 0 and m["state"] == "valid" and m["synthetic"] and m["local_identity"]
    claims = m["latentcam"]
    assert claims["watermark"] is True and claims["watermark_bundle_id"] == DEFAULT_ID
    assert claims["target"]["name"] == "astronaut"
    assert w["bundle_id"] == DEFAULT_ID and w["frames_found"] >= 0.95 * w["frames_checked"] > 0


def test_re_encoded_at_2_mbit_the_manifest_is_gone_and_the_watermark_stays(demo, tmp_path: Path):
    from latentcam.provenance.attacks import encode_h264

    path, _ = demo
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    reencoded = tmp_path / "demo_2mbit.mp4"
    encode_h264(frames, bitrate=2_000_000, fps=30, path=reencoded)
    code, report = verify(reencoded)
    assert code == 0 and report["manifest"]["state"] == "absent"
    w = report["watermark"]
    assert w["bundle_id"] == DEFAULT_ID and w["frames_found"] >= 0.95 * w["frames_checked"] > 0


def test_a_no_watermark_recording_is_unmarked_and_its_manifest_says_so(tmp_path: Path, single_face_clip):
    out = tmp_path / "rec.mp4"
    run = cli("live", "--source", single_face_clip, "--fast", "--record", out, "--size", "640x360",
              "--no-watermark", "--no-label", "--max-frames", 8)
    assert run.returncode == 0, run.stderr
    assert "invisible watermark is off" in run.stderr
    code, report = verify(out)
    assert code == 0 and report["manifest"]["state"] == "valid"      # the manifest still says synthetic
    assert report["manifest"]["latentcam"]["watermark"] is False
    assert "watermark_bundle_id" not in report["manifest"]["latentcam"]
    assert not report["watermark"]["found"]
