#!/usr/bin/env python3
"""Sign the embedded default target (latentcam/assets/default_target) with a one-off
"latentcam project" identity whose private key is never written anywhere.

A new CA and signing certificate are made in memory (``provenance.identity.issue_chain``), the
bundle's manifest.json is signed (``provenance.bundle_signature.sign_bundle``: writes
manifest.sig and manifest.signer.pem, both committed), and the process exits: the keys are gone.
What that proves: the default target's files are byte for byte what the project shipped (any
edit to the manifest, or to a file it lists, is refused on load). What it does not prove: who the
project is — no trusted authority issued the certificate, its organisation name says so, and
nothing else can ever be signed with it. Re-running it replaces the signature and the
certificate (and so the fingerprint tests/test_provenance_wiring.py pins).

Usage: python scripts/sign_default_target.py [BUNDLE]   (default: latentcam/assets/default_target)
"""

from __future__ import annotations

import sys
from pathlib import Path

from latentcam.provenance.bundle_signature import sign_bundle, verify_bundle
from latentcam.provenance.identity import PROJECT_ORGANIZATION, SigningIdentity, issue_chain

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    bundle = Path(argv[0]) if argv else REPO / "latentcam" / "assets" / "default_target"
    chain, key = issue_chain("latentcam project CA (one-off, key discarded)",
                             "latentcam project: embedded default target", PROJECT_ORGANIZATION)
    identity = SigningIdentity(chain, key, local=False, source="one-off latentcam project identity")
    signer = sign_bundle(bundle, identity)
    del identity, key                       # never written: nothing else can be signed in this name
    assert verify_bundle(bundle, require_signed=True) == signer
    print(f"signed {bundle} as {signer.subject}\ncertificate sha256 {signer.fingerprint}\n"
          f"manifest sha256 {signer.manifest_sha256}")


if __name__ == "__main__":
    main(sys.argv[1:])
