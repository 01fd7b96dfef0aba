"""Signed target bundles: a detached signature over a bundle's manifest.json.

The manifest lists the size and sha256 of every other file of the bundle, so signing its exact
bytes covers the whole bundle: ``latent.bundle`` checks the files against the manifest, this
module checks the manifest against the signature. Two files are added inside the bundle folder
(neither is listed in the manifest, which they sign):

    manifest.sig          JSON: format, algorithm, sha256 of the signed manifest bytes, signature (base64)
    manifest.signer.pem   the signer's certificate chain (signing certificate first)

A signature says who signed (the certificate's subject and fingerprint) and that nothing changed
since; whether that signer is to be believed is the caller's decision (a local identity is not
a trusted issuer, see ``identity``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from latentcam.facekit.errors import InputError

from .identity import (IdentityError, SigningIdentity, certificate_fingerprint, describe_certificate,
                       is_local_certificate, load_chain, verify_signature)

MANIFEST = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
SIGNER_FILE = "manifest.signer.pem"
SIGNATURE_FORMAT = "latentcam-bundle-signature"
SIGNATURE_VERSION = 1


class BundleSignatureError(InputError, ValueError):
    """A bundle's signature does not match its manifest, or is malformed; the message says what to do."""


@dataclass(frozen=True)
class BundleSigner:
    """Who signed a bundle."""

    subject: str            # "CN (O)" of the signing certificate
    fingerprint: str        # sha256 of the signing certificate (DER), hex
    local: bool             # a latentcam local identity: not a trusted issuer
    manifest_sha256: str    # of the manifest bytes that were signed


def sign_bundle(root: Path | str, identity: SigningIdentity) -> BundleSigner:
    """Sign ``root/manifest.json`` with ``identity``; writes manifest.sig and manifest.signer.pem."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise BundleSignatureError(f"{root} is not a target bundle: no {MANIFEST} to sign")
    data = manifest.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    record = {"format": SIGNATURE_FORMAT, "version": SIGNATURE_VERSION, "alg": identity.c2pa_alg,
              "manifest_sha256": digest, "signature": base64.b64encode(identity.sign(data)).decode("ascii")}
    (root / SIGNER_FILE).write_bytes(identity.chain_pem)
    (root / SIGNATURE_FILE).write_text(json.dumps(record, indent=1) + "\n")
    cert = identity.certificate
    return BundleSigner(describe_certificate(cert), certificate_fingerprint(cert), is_local_certificate(cert), digest)


def is_signed(root: Path | str) -> bool:
    return (Path(root) / SIGNATURE_FILE).exists()


def verify_bundle(root: Path | str, *, require_signed: bool = False) -> BundleSigner | None:
    """Who signed the bundle at ``root``, or None when it is unsigned (the caller warns).

    Raises ``BundleSignatureError`` when the signature or the signer's certificate is missing or
    malformed, when manifest.json is not the one that was signed, or when the bundle is unsigned
    and ``require_signed`` (``--require-signed``).
    """
    root = Path(root)
    manifest, sig_path, signer_path = root / MANIFEST, root / SIGNATURE_FILE, root / SIGNER_FILE
    if not sig_path.exists():
        if require_signed:
            raise BundleSignatureError(f"target bundle {root} is not signed, and a signed one is required "
                                       f"(--require-signed): sign it with `latentcam sign-bundle {root}` if you "
                                       f"trust its origin, or use a signed bundle")
        return None
    if not manifest.is_file():
        raise BundleSignatureError(f"{root} has a signature but no {MANIFEST}: the bundle is incomplete")
    try:
        record = json.loads(sig_path.read_text())
        signature = base64.b64decode(record["signature"], validate=True)
        signed_digest = str(record["manifest_sha256"])
        if record.get("format") != SIGNATURE_FORMAT or record.get("version") != SIGNATURE_VERSION:
            raise ValueError(f"format {record.get('format')!r} version {record.get('version')!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleSignatureError(f"{sig_path} is not a valid bundle signature ({exc}); re-sign the bundle "
                                   f"(latentcam sign-bundle {root}) or restore it") from exc
    if not signer_path.is_file():
        raise BundleSignatureError(f"{root} is signed but {SIGNER_FILE} (the signer's certificate) is missing; "
                                   f"restore the bundle")
    try:
        chain = load_chain(signer_path.read_bytes())
    except IdentityError as exc:
        raise BundleSignatureError(f"{signer_path}: {exc}") from exc
    _check_chain(chain, signer_path)
    data = manifest.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cert = chain[0]
    who = describe_certificate(cert)
    if digest != signed_digest:
        raise BundleSignatureError(f"{manifest} was changed after {who} signed it (sha256 {digest[:12]}… "
                                   f"!= signed {signed_digest[:12]}…): the bundle was edited — restore or "
                                   f"re-train it; do not use it")
    if not verify_signature(cert, signature, data):
        raise BundleSignatureError(f"the signature in {sig_path} does not match {manifest} and the certificate "
                                   f"of {who}: the bundle or its signature was altered — restore or re-train it")
    return BundleSigner(who, certificate_fingerprint(cert), is_local_certificate(cert), digest)


def _check_chain(chain: list, where: Path) -> None:
    """Each certificate of the chain must be signed by the next one (the last may be a root)."""
    from cryptography.exceptions import InvalidSignature

    for cert, issuer in zip(chain, chain[1:]):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise BundleSignatureError(f"{where}: {describe_certificate(cert)} was not issued by "
                                       f"{describe_certificate(issuer)} ({exc}); the signer's certificate chain "
                                       f"is broken") from exc
