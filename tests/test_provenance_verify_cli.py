"""``latentcam verify``, ``sign`` and ``sign-bundle`` on real clips: what they report, their exit codes
and their JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import typer
from typer.testing import CliRunner

from latentcam.provenance import commands
from latentcam.provenance.attacks import encode_h264, h264_roundtrip
from latentcam.provenance.watermark import WatermarkEmbedder, bundle_id_from_manifest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO / "latentcam" / "assets" / "default_target"
BUNDLE_HEX = f"{bundle_id_from_manifest(DEFAULT_TARGET / 'manifest.json'):08x}"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)
    return app


@pytest.fixture(autouse=True)
def config_home(tmp_path_factory, monkeypatch):
    """The local signing identity goes to a throwaway user config folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "config"))


def run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def marked_frames(testdata: Path):
    embedder = WatermarkEmbedder(int(BUNDLE_HEX, 16))
    cap = cv2.VideoCapture(str(testdata / "single_face.mp4"))
    frames = []
    while len(frames) < 24:
        ok, frame = cap.read()
        assert ok
        frames.append(embedder.embed(cv2.resize(frame, (1280, 720))))
    cap.release()
    return frames


@pytest.fixture()
def demo_mp4(tmp_path: Path, marked_frames, app) -> Path:
    """A marked recording, signed with `latentcam sign` (as the recorder will sign it)."""
    path = tmp_path / "demo.mp4"
    encode_h264(marked_frames, bitrate=6_000_000, path=path)
    result = run(app, "sign", path, "--bundle", DEFAULT_TARGET)
    assert result.exit_code == 0, result.output
    assert "local identity" in result.output.lower().replace("\n", " ")
    return path


def test_a_signed_marked_recording_verifies_with_both_marks(app, demo_mp4: Path):
    result = run(app, "verify", demo_mp4, "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["found"] and report["kind"] == "video"
    assert report["manifest"]["state"] == "valid" and report["manifest"]["synthetic"]
    assert report["manifest"]["latentcam"]["target"]["name"] == "astronaut"
    wm = report["watermark"]
    assert wm["found"] and wm["bundle_id"] == BUNDLE_HEX and wm["frames_found"] == wm["frames_checked"] == 24


def test_after_a_2_mbit_reencode_the_manifest_is_gone_and_the_watermark_stays(app, marked_frames, tmp_path: Path):
    path = tmp_path / "reencoded.mp4"
    encode_h264(h264_roundtrip(marked_frames, bitrate=2_000_000), bitrate=2_000_000, path=path)
    result = run(app, "verify", path, "--json")
    assert result.exit_code == 0
    [report] = json.loads(result.stdout)
    assert report["manifest"]["state"] == "absent"
    assert report["watermark"]["frames_found"] >= 0.95 * report["watermark"]["frames_checked"]


def test_a_tampered_recording_is_reported_tampered(app, demo_mp4: Path):
    data = bytearray(demo_mp4.read_bytes())
    data[data.find(b"mdat") + 5000] ^= 0x01
    demo_mp4.write_bytes(data)
    result = run(app, "verify", demo_mp4)
    assert "TAMPERED" in result.output and "bmffHash.mismatch" in result.output


@pytest.mark.parametrize("name", ["no_face.mp4", "astronaut.png", "single_face.jpg"])
def test_unmarked_sample_media_report_nothing_and_exit_1(app, testdata: Path, name: str):
    result = run(app, "verify", testdata / name, "--json")
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert not report["found"] and report["manifest"]["state"] == "absent" and not report["watermark"]["found"]


def test_missing_and_undecodable_files_exit_2_with_a_clear_error(app, tmp_path: Path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    result = run(app, "verify", tmp_path / "missing.mp4", fake)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "file not found" in text and "cannot decode" in text


def test_the_exit_code_is_the_worst_of_all_files_and_json_lists_each(app, testdata: Path, demo_mp4: Path,
                                                                       tmp_path: Path):
    result = run(app, "verify", demo_mp4, testdata / "no_face.mp4", tmp_path / "missing.png", "--json")
    assert result.exit_code == 2
    reports = json.loads(result.stdout)
    assert [r.get("found") for r in reports[:2]] == [True, False] and "error" in reports[2]


def test_bundles_sign_verify_and_refuse_edits_through_the_cli(app, tmp_path: Path):
    assert run(app, "verify", DEFAULT_TARGET).exit_code == 0                  # shipped signed
    bundle = tmp_path / "astronaut"
    shutil.copytree(DEFAULT_TARGET, bundle, ignore=shutil.ignore_patterns("manifest.sig", "manifest.signer.pem"))
    assert run(app, "verify", bundle).exit_code == 1                          # an unsigned copy
    assert run(app, "sign-bundle", bundle).exit_code == 0
    ok = run(app, "verify", bundle)
    assert ok.exit_code == 0 and "signed by" in ok.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["name"] = "someone else"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    refused = run(app, "verify", bundle)
    assert refused.exit_code == 2 and "refused" in refused.output
    not_a_bundle = run(app, "verify", tmp_path)
    assert not_a_bundle.exit_code == 2 and "not a target bundle" in not_a_bundle.output


def test_the_main_cli_has_the_provenance_commands():
    from latentcam.cli import build_app

    names = {c.name for c in build_app().registered_commands}
    assert {"verify", "sign", "sign-bundle"} <= names
