"""Content Credentials (C2PA) on recordings and images: sign, and read back.

The manifest states that the content is synthetic (action ``c2pa.created`` with IPTC digital
source type ``trainedAlgorithmicMedia``), names latentcam and its version, and carries a
latentcam assertion with the target bundle (name, sha256 of its manifest.json, consent and
licence text) and whether the invisible watermark was on. MP4/MOV are bound by a BMFF hash,
PNG/JPEG by a data hash, so any change to the media after signing reads back as tampered.

Signing never loses the file: on any failure the unsigned file stays where it was and
``sign_media`` returns a result whose ``warning`` says why.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .identity import IdentityError, SigningIdentity, resolve_identity

log = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ASSERTION_LABEL = "org.latentcam.synthetic"
_UNTRUSTED = "signingCredential.untrusted"
SIGNABLE_SUFFIXES = (".mp4", ".m4v", ".mov", ".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class TargetInfo:
    """What a recording's manifest says about the target bundle it shows."""

    name: str
    manifest_sha256: str
    consent: dict = field(default_factory=dict)     # the bundle's consent/licence text, as stored

    @property
    def watermark_id(self) -> int:
        """The 32-bit id the watermark carries: the first 4 bytes of ``manifest_sha256``
        (``watermark.bundle_id_from_manifest`` of the same file)."""
        return int(self.manifest_sha256[:8], 16)

    @classmethod
    def from_bundle(cls, root: Path | str) -> "TargetInfo":
        """Read name and consent from ``root/manifest.json`` and hash its bytes."""
        import hashlib

        manifest_path = Path(root) / "manifest.json"
        try:
            data = manifest_path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the bundle manifest {manifest_path} ({exc})") from exc
        digest = hashlib.sha256(data).hexdigest()
        consent = manifest.get("consent") if isinstance(manifest.get("consent"), dict) else {}
        return cls(str(manifest.get("name", Path(root).name)), digest, dict(consent))


def _latentcam_version() -> str:
    from latentcam import __version__

    return __version__


def build_manifest(title: str, target: TargetInfo | None, watermark: bool) -> dict:
    """The manifest definition (c2pa-python's JSON form) for one synthetic output file."""
    version = _latentcam_version()
    claims: dict = {"generator": "latentcam", "version": version, "watermark": bool(watermark)}
    if target is not None:
        claims["target"] = {"name": target.name, "manifest_sha256": target.manifest_sha256,
                            "consent": target.consent}
        if watermark:
            claims["watermark_bundle_id"] = f"{target.watermark_id:08x}"
    return {
        "claim_generator_info": [{"name": "latentcam", "version": version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": {"name": "latentcam", "version": version},
                "description": "face reenactment: a learned model renders the target from a driving video",
            }]}},
            {"label": ASSERTION_LABEL, "data": claims},
        ],
    }


@dataclass(frozen=True)
class SignResult:
    """Outcome of ``sign_media``: the file is always at ``path``, signed or not."""

    path: Path
    signed: bool
    signer: str | None = None
    local_identity: bool = False
    warning: str | None = None      # why it is unsigned, or that the identity is only local


def sign_media(path: Path | str, *, target: TargetInfo | None, watermark: bool,
               identity: SigningIdentity | None = None, sign_cert: Path | str | None = None,
               sign_key: Path | str | None = None) -> SignResult:
    """Sign ``path`` (MP4/MOV/PNG/JPEG) in place with a C2PA manifest; never raises, never loses it.

    The identity is ``identity`` if given, else ``sign_cert`` + ``sign_key``, else the local one
    (created in the user config folder on first use). The signed copy is written beside the file
    and moved over it only once complete.
    """
    path = Path(path)

    def unsigned(reason: str) -> SignResult:
        message = f"{path} was kept UNSIGNED: {reason}"
        log.warning(message)
        return SignResult(path, False, warning=message)

    if not path.is_file():
        return unsigned("the file does not exist")
    if path.suffix.lower() not in SIGNABLE_SUFFIXES:
        return unsigned(f"Content Credentials are written for {', '.join(SIGNABLE_SUFFIXES)} files only")
    try:
        identity = identity or resolve_identity(sign_cert, sign_key)
        alg = identity.c2pa_alg
    except IdentityError as exc:
        return unsigned(f"no usable signing identity ({exc})")
    try:
        import c2pa
    except ImportError as exc:
        return unsigned(f"c2pa-python is not installed ({exc}); pip install c2pa-python")

    manifest = build_manifest(path.name, target, watermark)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.signing.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        info = c2pa.C2paSignerInfo(alg, identity.chain_pem, identity.key_pem, None)   # no timestamp: offline
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest)) as builder:
            builder.sign_file(path, tmp, signer)
        shutil.copymode(path, tmp)      # mkstemp's copy is private (0600): keep the recording's mode
        os.replace(tmp, path)
    except Exception as exc:   # c2pa raises its own errors and OSError; none may cost the recording
        tmp.unlink(missing_ok=True)
        return unsigned(f"C2PA signing failed ({type(exc).__name__}: {exc})")
    note = (f"signed with the LOCAL identity in {identity.source}: it shows the file is unchanged, "
            f"not who made it (use --sign-cert/--sign-key for a trusted certificate)") if identity.local else None
    return SignResult(path, True, identity.subject, identity.local, note)


@dataclass(frozen=True)
class ManifestReport:
    """What a file's C2PA manifest says, and whether it still matches the file."""

    state: str                      # "valid", "tampered", "absent" or "unreadable" (not a parsable file)
    validation_state: str | None = None        # c2pa's word: Valid, Trusted, Invalid
    failures: list[str] = field(default_factory=list)   # "code: explanation" for each failed check
    trusted: bool = False           # the signer chains to a trust anchor c2pa knows (never a local identity)
    synthetic: bool = False         # digital source type trainedAlgorithmicMedia (or another AI type)
    digital_source_type: str | None = None
    claim_generator: str | None = None
    signer: str | None = None       # signing certificate's common name
    signer_issuer: str | None = None   # its organisation / issuer as c2pa reports it
    local_identity: bool = False    # signed with a latentcam local identity: not a trusted issuer
    signed_at: str | None = None
    latentcam: dict | None = None   # the latentcam assertion (target, watermark)

    def to_dict(self) -> dict:
        return asdict(self)


def read_manifest(path: Path | str) -> ManifestReport:
    """Read and validate the C2PA manifest of ``path``.

    Raises ``FileNotFoundError`` for a missing file. A file without a manifest, or in a format
    c2pa does not handle, reports ``absent``; one c2pa cannot parse (damaged, or not what its
    suffix says) ``unreadable``; a manifest any of whose checks fails reports ``tampered``. An
    untrusted signer (every local identity) is not a failure: ``trusted`` says it.
    """
    import c2pa

    from .identity import LOCAL_ORGANIZATION

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        reader = c2pa.Reader.try_create(path)
    except c2pa.C2paError as exc:
        text = str(exc)
        if "NotSupported" in type(exc).__name__ or "not supported" in text.lower() or "could not determine" in text.lower():
            return ManifestReport("absent", failures=[f"format not handled by c2pa: {text}"])
        if "could not be parsed" in text:
            return ManifestReport("unreadable", failures=[text])
        return ManifestReport("tampered", failures=[f"manifest unreadable: {text}"])
    if reader is None:
        return ManifestReport("absent")
    with reader:
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    failed = (results.get("activeManifest") or {}).get("failure", [])
    trusted = state == "Trusted" or not any(f.get("code") == _UNTRUSTED for f in failed)
    failures = [f"{f.get('code')}: {f.get('explanation', '')}" for f in failed if f.get("code") != _UNTRUSTED]
    source_type, claims = None, None
    for assertion in active.get("assertions", []):
        label = assertion.get("label", "")
        if label.startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                source_type = action.get("digitalSourceType") or source_type
        elif label == ASSERTION_LABEL:
            claims = assertion.get("data")
    generator = ", ".join(f"{g.get('name')} {g.get('version', '')}".strip()
                          for g in active.get("claim_generator_info", [])) or active.get("claim_generator")
    signature = active.get("signature_info", {})
    synthetic = bool(source_type) and source_type.rsplit("/", 1)[-1] in (
        "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic")
    ok = state in ("Valid", "Trusted") and not failures
    return ManifestReport("valid" if ok else "tampered", state, failures, trusted and ok, synthetic, source_type,
                          generator,
                          signature.get("common_name"), signature.get("issuer"),
                          signature.get("issuer") == LOCAL_ORGANIZATION, signature.get("time"), claims)
