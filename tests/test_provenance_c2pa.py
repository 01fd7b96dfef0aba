"""Content Credentials: the local signing identity, signing recordings and images, reading back,
tampering, and signing failures that keep the file."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import cv2
import pytest

from latentcam.facekit.video_writer import VideoFileWriter
from latentcam.provenance.content_credentials import (TRAINED_ALGORITHMIC_MEDIA, TargetInfo, read_manifest,
                                                      sign_media)
from latentcam.provenance.identity import (CHAIN_FILE, KEY_FILE, README_FILE, IdentityError, SigningIdentity,
                                           default_identity_dir, load_identity, local_identity, resolve_identity)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO / "latentcam" / "assets" / "default_target"


@pytest.fixture(scope="module")
def identity(tmp_path_factory) -> SigningIdentity:
    return local_identity(tmp_path_factory.mktemp("identity"))


@pytest.fixture(scope="module")
def target() -> TargetInfo:
    return TargetInfo.from_bundle(DEFAULT_TARGET)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, testdata: Path) -> Path:
    """An mp4 written the way latentcam records today (facekit's OpenCV writer), from a real clip."""
    path = tmp_path_factory.mktemp("rec") / "recording.mp4"
    cap = cv2.VideoCapture(str(testdata / "single_face.mp4"))
    with VideoFileWriter(path, 30.0, (640, 360)) as writer:
        for _ in range(20):
            ok, frame = cap.read()
            assert ok
            writer.write(frame)
    cap.release()
    return path


@pytest.fixture()
def signed_recording(recording: Path, tmp_path: Path, identity, target) -> Path:
    path = tmp_path / "signed.mp4"
    shutil.copy(recording, path)
    result = sign_media(path, target=target, watermark=True, identity=identity)
    assert result.signed, result.warning
    return path


def test_the_local_identity_is_created_once_private_and_labelled_local(tmp_path: Path):
    first = local_identity(tmp_path)
    again = local_identity(tmp_path)
    assert first.fingerprint == again.fingerprint and first.local
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    assert "not a trusted issuer" in first.subject
    assert "LOCAL" in (tmp_path / README_FILE).read_text()
    assert first.c2pa_alg == "es256"


def test_the_default_identity_folder_is_the_user_config_folder(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_identity_dir() == tmp_path / "latentcam" / "signing"


def test_a_signed_recording_reads_back_valid_synthetic_with_its_claims(signed_recording: Path, target):
    report = read_manifest(signed_recording)
    assert report.state == "valid" and report.failures == []
    assert report.synthetic and report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.claim_generator.startswith("latentcam ")
    assert report.local_identity and not report.trusted
    claims = report.latentcam
    assert claims["watermark"] is True and claims["watermark_bundle_id"] == f"{target.watermark_id:08x}"
    assert claims["target"]["name"] == "astronaut"
    assert claims["target"]["manifest_sha256"] == target.manifest_sha256
    assert "public domain" in claims["target"]["consent"]["licence"]


def test_a_signed_recording_still_plays(signed_recording: Path):
    cap = cv2.VideoCapture(str(signed_recording))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 20


def test_signing_keeps_the_recordings_file_mode(recording: Path, tmp_path: Path, identity, target):
    """Signing goes through a private temporary copy; the signed file keeps the mode the
    recording had (a demo.mp4 others could read stays readable)."""
    path = tmp_path / "shared.mp4"
    shutil.copy(recording, path)
    os.chmod(path, 0o644)
    assert sign_media(path, target=target, watermark=True, identity=identity).signed
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_changing_one_byte_of_the_video_reads_back_tampered(signed_recording: Path):
    data = bytearray(signed_recording.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 1000] ^= 0x40
    signed_recording.write_bytes(data)
    report = read_manifest(signed_recording)
    assert report.state == "tampered"
    assert any("bmffHash.mismatch" in f for f in report.failures)


def test_an_edited_claim_inside_the_manifest_reads_back_tampered(signed_recording: Path):
    data = bytearray(signed_recording.read_bytes())
    at = data.find(b"astronaut")           # the target's name in the latentcam assertion
    assert at > 0
    data[at] = ord("A")
    signed_recording.write_bytes(data)
    report = read_manifest(signed_recording)
    assert report.state == "tampered"
    assert any("org.latentcam.synthetic" in f for f in report.failures)


def test_an_unsigned_recording_has_no_manifest(recording: Path):
    assert read_manifest(recording).state == "absent"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_images_are_signed_too_and_a_reencode_drops_the_manifest(tmp_path: Path, testdata: Path, identity,
                                                                  target, suffix: str):
    path = tmp_path / f"still{suffix}"
    cv2.imwrite(str(path), cv2.imread(str(testdata / "astronaut.png")))
    assert sign_media(path, target=target, watermark=False, identity=identity).signed
    report = read_manifest(path)
    assert report.state == "valid" and report.synthetic and report.latentcam["watermark"] is False
    reencoded = tmp_path / f"again{suffix}"
    cv2.imwrite(str(reencoded), cv2.imread(str(path)))
    assert read_manifest(reencoded).state == "absent"


def test_a_self_signed_certificate_is_refused_by_c2pa_and_the_file_is_kept(recording: Path, tmp_path: Path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    path = tmp_path / "keep.mp4"
    shutil.copy(recording, path)
    before = path.read_bytes()
    result = sign_media(path, target=None, watermark=True, sign_cert=tmp_path / "cert.pem", sign_key=tmp_path / "key.pem")
    assert not result.signed and "UNSIGNED" in result.warning and "C2PA signing failed" in result.warning
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no half-written copy left


def test_a_user_certificate_chain_is_used_as_given(recording: Path, tmp_path: Path):
    own = local_identity(tmp_path / "own")        # stands in for a certificate the user brings
    user = load_identity(tmp_path / "own" / CHAIN_FILE, tmp_path / "own" / KEY_FILE)
    assert not user.local and user.fingerprint == own.fingerprint
    path = tmp_path / "user.mp4"
    shutil.copy(recording, path)
    result = sign_media(path, target=None, watermark=True, sign_cert=tmp_path / "own" / CHAIN_FILE,
                        sign_key=tmp_path / "own" / KEY_FILE)
    assert result.signed and result.warning is None
    assert read_manifest(path).state == "valid"


def test_a_key_that_does_not_match_the_certificate_is_refused_clearly(tmp_path: Path):
    local_identity(tmp_path / "a")
    local_identity(tmp_path / "b")
    with pytest.raises(IdentityError, match="does not belong to the signing certificate"):
        load_identity(tmp_path / "a" / CHAIN_FILE, tmp_path / "b" / KEY_FILE)
    with pytest.raises(IdentityError, match="give both --sign-cert and --sign-key"):
        resolve_identity(cert=tmp_path / "a" / CHAIN_FILE)
    with pytest.raises(IdentityError, match="signing private key not found"):
        load_identity(tmp_path / "a" / CHAIN_FILE, tmp_path / "missing.pem")


def test_signing_a_missing_or_foreign_file_warns_without_raising(tmp_path: Path, identity):
    missing = sign_media(tmp_path / "gone.mp4", target=None, watermark=True, identity=identity)
    assert not missing.signed and "does not exist" in missing.warning
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    foreign = sign_media(text, target=None, watermark=True, identity=identity)
    assert not foreign.signed and ".mp4" in foreign.warning and text.read_text() == "hello"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 4096)
    result = sign_media(broken, target=None, watermark=True, identity=identity)
    assert not result.signed and broken.read_bytes() == b"\0" * 4096
