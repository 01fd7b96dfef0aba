"""Signed target bundles: the embedded default target signed, verified, and refused once edited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from latentcam.latent.bundle import BundleError, TargetBundle
from latentcam.provenance.bundle_signature import (SIGNATURE_FILE, SIGNER_FILE, BundleSignatureError, is_signed,
                                                   sign_bundle, verify_bundle)
from latentcam.provenance.identity import local_identity

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO / "latentcam" / "assets" / "default_target"


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return local_identity(tmp_path_factory.mktemp("identity"))


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """An unsigned copy of the embedded target (its shipped signature left out)."""
    root = tmp_path / "astronaut"
    shutil.copytree(DEFAULT_TARGET, root, ignore=shutil.ignore_patterns(SIGNATURE_FILE, SIGNER_FILE))
    return root


def test_an_unsigned_bundle_reads_as_unsigned_or_is_refused_when_a_signature_is_required(bundle: Path):
    assert not is_signed(bundle) and verify_bundle(bundle) is None
    with pytest.raises(BundleSignatureError, match="not signed.*--require-signed.*latentcam sign-bundle"):
        verify_bundle(bundle, require_signed=True)


def test_a_signed_bundle_names_its_signer_and_still_loads(bundle: Path, identity):
    signed = sign_bundle(bundle, identity)
    assert (bundle / SIGNATURE_FILE).is_file() and (bundle / SIGNER_FILE).is_file()
    checked = verify_bundle(bundle, require_signed=True)
    assert checked == signed
    assert checked.local and checked.fingerprint == identity.fingerprint
    assert checked.subject == identity.subject
    TargetBundle.load(bundle)          # the two signature files do not disturb the bundle loader


def test_one_edited_manifest_value_is_refused_with_who_signed_it(bundle: Path, identity):
    sign_bundle(bundle, identity)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["consent"]["licence"] = "anything goes"
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1))
    with pytest.raises(BundleSignatureError, match=r"was changed after latentcam, .* signed it .* do not use it"):
        verify_bundle(bundle)          # the file hashes alone would accept the edit; the signature does not
    with pytest.raises(BundleError, match=r"was changed after latentcam, .* signed it .* do not use it"):
        TargetBundle.load(bundle)      # and so the loader refuses it


def test_a_re_signed_digest_without_the_key_is_refused(bundle: Path, identity):
    """An editor who also rewrites the digest in manifest.sig still cannot forge the signature."""
    sign_bundle(bundle, identity)
    (bundle / "manifest.json").write_text((bundle / "manifest.json").read_text().replace("astronaut", "someone", 1))
    import hashlib

    record = json.loads((bundle / SIGNATURE_FILE).read_text())
    record["manifest_sha256"] = hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    (bundle / SIGNATURE_FILE).write_text(json.dumps(record))
    with pytest.raises(BundleSignatureError, match="signature .* does not match"):
        verify_bundle(bundle)


def test_a_swapped_signer_certificate_is_refused(bundle: Path, identity, tmp_path: Path):
    sign_bundle(bundle, identity)
    other = local_identity(tmp_path / "other")
    (bundle / SIGNER_FILE).write_bytes(other.chain_pem)
    with pytest.raises(BundleSignatureError, match="does not match"):
        verify_bundle(bundle)


def test_damaged_signature_files_are_refused_with_what_to_do(bundle: Path, identity):
    sign_bundle(bundle, identity)
    (bundle / SIGNATURE_FILE).write_text("{not json")
    with pytest.raises(BundleSignatureError, match="not a valid bundle signature.*re-sign the bundle"):
        verify_bundle(bundle)
    sign_bundle(bundle, identity)
    (bundle / SIGNER_FILE).unlink()
    with pytest.raises(BundleSignatureError, match="manifest.signer.pem .* is missing"):
        verify_bundle(bundle)


def test_a_broken_certificate_chain_is_refused(bundle: Path, identity, tmp_path: Path):
    sign_bundle(bundle, identity)
    other = local_identity(tmp_path / "other")
    leaf = identity.chain_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    other_ca = other.chain_pem.split(b"-----END CERTIFICATE-----\n", 1)[1]
    (bundle / SIGNER_FILE).write_bytes(leaf + other_ca)
    with pytest.raises(BundleSignatureError, match="was not issued by"):
        verify_bundle(bundle)


def test_signing_a_folder_without_a_manifest_says_so(tmp_path: Path, identity):
    with pytest.raises(BundleSignatureError, match="no manifest.json"):
        sign_bundle(tmp_path, identity)
