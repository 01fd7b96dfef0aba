"""The signing identity: a certificate chain and its private key, the user's own or a local one.

C2PA refuses a self-signed signing certificate, so the local identity is a chain: an ES256
(P-256) certificate authority that exists only to issue one leaf, and that leaf (key usage
digitalSignature, extended key usage emailProtection, subject and authority key ids). The CA's
private key is discarded once the leaf is issued: nothing else can ever be signed in its name.
It lives in the user config folder (``platformdirs``), is created on first use, and says in its
names and in a README beside it that it is local — proof that the same installation signed two
things, not a trusted issuer's word about who made them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from latentcam.facekit.errors import InputError


LOCAL_ORGANIZATION = "latentcam local signing identity (not a trusted issuer)"
#: The one-off identity that signed the embedded default target (scripts/sign_default_target.py):
#: its key was discarded after signing; it shows the files are as shipped, not who shipped them.
PROJECT_ORGANIZATION = "latentcam project (files as shipped; not a trusted issuer)"
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"
README_FILE = "README.txt"
_VALID_YEARS = 10
_README = """\
This folder holds the signing identity that latentcam created on this computer.

latentcam signs its recordings (C2PA Content Credentials) and target bundles with it.
It is LOCAL: no trusted authority vouches for it. A signature made with it proves that the
file is unchanged since this installation signed it; it does not prove to anyone else who you
are. Use your own certificate with --sign-cert/--sign-key (or the config file) for that.

signer-chain.pem  the signing certificate followed by the local CA that issued it
signer-key.pem    the signing certificate's private key: keep it private
The CA's private key was discarded after issuing the signing certificate.
"""


class IdentityError(InputError, RuntimeError):
    """The signing certificate or key cannot be used; the message says what to do."""


@dataclass(frozen=True)
class SigningIdentity:
    """A PEM certificate chain (signing certificate first) and the matching PEM private key."""

    chain_pem: bytes
    key_pem: bytes
    local: bool            # created by latentcam on this computer: not a trusted issuer
    source: str            # where it was loaded from, for messages

    @property
    def certificate(self) -> x509.Certificate:
        return load_chain(self.chain_pem)[0]

    @property
    def subject(self) -> str:
        return describe_certificate(self.certificate)

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @property
    def c2pa_alg(self) -> str:
        """The C2PA signing algorithm name for this key (es256, es384, es512, ps256, ed25519)."""
        return _alg_for_key(self._private_key())

    def _private_key(self):
        try:
            return serialization.load_pem_private_key(self.key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise IdentityError(f"the private key from {self.source} cannot be read ({exc}); give an "
                                f"unencrypted PEM key") from exc

    def sign(self, data: bytes) -> bytes:
        """A detached signature over ``data`` with the algorithm ``c2pa_alg`` names."""
        key = self._private_key()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_ec_hash(key.curve)))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                            hashes.SHA256())
        return key.sign(data)   # Ed25519 (checked in _alg_for_key)


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    return {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}[curve.name]


def _alg_for_key(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in algs:
            raise IdentityError(f"elliptic curve {key.curve.name} is not supported by C2PA; use P-256")
        return algs[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise IdentityError(f"{type(key).__name__} keys are not supported; use an EC P-256, RSA or Ed25519 key")


def verify_signature(certificate: x509.Certificate, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` over ``data`` was made with ``certificate``'s key (as ``sign``)."""
    public = certificate.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(_ec_hash(public.curve)))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                          hashes.SHA256())
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        else:
            return False
    except (InvalidSignature, KeyError):
        return False
    return True


def load_chain(pem: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise IdentityError(f"not a PEM certificate chain ({exc})") from exc
    if not chain:
        raise IdentityError("the certificate file holds no certificate")
    return chain


def describe_certificate(cert: x509.Certificate) -> str:
    """"CN (O)" of a certificate's subject, for messages."""
    def first(oid) -> str | None:
        attrs = cert.subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else None
    cn, org = first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATION_NAME)
    return f"{cn} ({org})" if cn and org else (cn or org or cert.subject.rfc4514_string())


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """sha256 of the certificate's DER encoding, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def is_local_certificate(cert: x509.Certificate) -> bool:
    """True for certificates latentcam's local identities issue (by their organisation name)."""
    return any(a.value == LOCAL_ORGANIZATION for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def default_identity_dir() -> Path:
    from latentcam.facekit.user_dirs import user_config_dir

    return user_config_dir() / "signing"


def load_identity(cert_path: Path | str, key_path: Path | str) -> SigningIdentity:
    """The user's own certificate chain (PEM, signing certificate first) and private key (PEM)."""
    cert_path, key_path = Path(cert_path), Path(key_path)
    for what, path in (("certificate", cert_path), ("private key", key_path)):
        if not path.is_file():
            raise IdentityError(f"signing {what} not found: {path}")
    identity = SigningIdentity(cert_path.read_bytes(), key_path.read_bytes(), local=False,
                               source=f"{cert_path} + {key_path}")
    _check_pair(identity)
    return identity


def _check_pair(identity: SigningIdentity) -> None:
    cert = load_chain(identity.chain_pem)[0]
    key = identity._private_key()
    _alg_for_key(key)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*fmt) != key.public_key().public_bytes(*fmt):
        raise IdentityError(f"the private key does not belong to the signing certificate "
                            f"{describe_certificate(cert)} ({identity.source}); the chain's first "
                            f"certificate must be the one the key signs for")
    now = dt.datetime.now(dt.timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise IdentityError(f"the signing certificate {describe_certificate(cert)} is not valid now "
                            f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")


def local_identity(folder: Path | str | None = None, *, create: bool = True) -> SigningIdentity:
    """This computer's local identity from ``folder`` (default: the user config folder),
    created there on first use."""
    folder = Path(folder) if folder is not None else default_identity_dir()
    chain, key = folder / CHAIN_FILE, folder / KEY_FILE
    if not (chain.is_file() and key.is_file()):
        if not create:
            raise IdentityError(f"no local signing identity in {folder}")
        _create_local_identity(folder)
    identity = SigningIdentity(chain.read_bytes(), key.read_bytes(), local=True, source=str(folder))
    _check_pair(identity)
    return identity


def resolve_identity(cert: Path | str | None = None, key: Path | str | None = None,
                     folder: Path | str | None = None) -> SigningIdentity:
    """The user's certificate + key when both are given, else the local identity."""
    if (cert is None) != (key is None):
        raise IdentityError("give both --sign-cert and --sign-key (or neither, for the local identity)")
    if cert is not None:
        return load_identity(cert, key)
    return local_identity(folder)


def _name(common_name: str, organization: str = LOCAL_ORGANIZATION) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])


def issue_chain(ca_name: str, signer_name: str, organization: str,
                valid_years: int = _VALID_YEARS) -> tuple[bytes, bytes]:
    """A one-off ES256 CA that issues one signing certificate, then is forgotten: returns (PEM
    chain, signing certificate first; the signing key as unencrypted PEM). The CA's private key
    never leaves this function, so nothing else can ever be issued in its name."""
    now = dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=365 * valid_years)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name(ca_name, organization)
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(signer_name, organization)).issuer_name(ca_subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return chain, key


def _create_local_identity(folder: Path) -> None:
    import getpass
    import platform

    try:
        owner = f"{getpass.getuser()}@{platform.node() or 'localhost'}"
    except (KeyError, OSError):
        owner = platform.node() or "localhost"
    chain, key = issue_chain(f"latentcam local CA, {owner}", f"latentcam, {owner}", LOCAL_ORGANIZATION)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / README_FILE).write_text(_README)
        _write_atomic(folder / KEY_FILE, key, private=True)
        _write_atomic(folder / CHAIN_FILE, chain)   # written last: its presence means complete
    except OSError as exc:
        raise IdentityError(f"cannot create the local signing identity in {folder} ({exc}); give your own "
                            f"with --sign-cert/--sign-key") from exc


def _write_atomic(path: Path, data: bytes, private: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if private:
            os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
