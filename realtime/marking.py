"""What marks the live output as synthetic besides the visible label: the invisible watermark
stage (every frame of every view) and Content Credentials on the recording once it is closed.

The watermark is on unless explicitly turned off (``--no-watermark`` / ``[watermark]
enabled = false``), independent of the label, and its payload is the target bundle's id
(``provenance.watermark.bundle_id_from_manifest``), the same id the recording's C2PA manifest
names (``TargetBundle.watermark_id``). Method, robustness and cost: ``docs/PROVENANCE.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcam.facekit.errors import InputError
from latentcam.provenance.watermark import WatermarkEmbedder, WatermarkOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatermarkSettings:
    """The ``[watermark]`` settings."""

    enabled: bool = True             # the invisible mark in every output frame (--no-watermark: off)

    def validate(self) -> None:
        pass

    def check_size(self, width: int, height: int) -> None:
        """The mark needs at least one chip row per pixel row; say what to do if the output is smaller."""
        rows = WatermarkOptions().rows
        if self.enabled and height < rows:
            raise ValueError(f"the output is {width}x{height}, but the invisible watermark needs a frame at "
                             f"least {rows} pixels high: choose a larger --size, or --no-watermark")


@dataclass(frozen=True)
class SigningSettings:
    """The ``[signing]`` settings: whose certificate signs recordings (Content Credentials)."""

    cert: str | None = None          # PEM chain, signing certificate first (None: the local identity)
    key: str | None = None           # its unencrypted PEM private key

    def validate(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("give both signing.cert and signing.key (--sign-cert and --sign-key), or neither "
                             "for the local signing identity")


class SigningError(InputError, ValueError):
    """The certificate or key given for signing recordings cannot be used; the message says why."""


class WatermarkStage:
    """Adds the invisible mark for one bundle id to a whole frame, in place. One embedder per frame
    size (the output, the preview and a side-by-side recording differ), built on first use."""

    def __init__(self, bundle_id: int, settings: WatermarkSettings = WatermarkSettings()):
        self.bundle_id = int(bundle_id)
        self.enabled = settings.enabled
        self._embedders: dict[tuple[int, int], WatermarkEmbedder] = {}

    def apply(self, bgr: np.ndarray) -> np.ndarray:
        """Mark ``bgr`` (H×W×3 uint8, whole written frame) in place and return it."""
        if not self.enabled:
            return bgr
        size = bgr.shape[:2]
        embedder = self._embedders.get(size)
        if embedder is None:
            embedder = self._embedders[size] = WatermarkEmbedder(self.bundle_id)
        return embedder.embed(bgr, inplace=True)


def signing_identity(settings: SigningSettings):
    """The identity that signs recordings: the user's certificate (an unusable one is a
    ``SigningError`` now, before anything is recorded), else the local one (``None`` with a
    warning when it cannot be created: the recording is then kept unsigned)."""
    from latentcam.provenance.identity import IdentityError, resolve_identity

    try:
        return resolve_identity(settings.cert, settings.key)
    except IdentityError as exc:
        if settings.cert is not None:
            raise SigningError(f"cannot sign recordings with --sign-cert/--sign-key: {exc}",
                               hint="give a PEM certificate chain and its unencrypted PEM key, or leave both "
                                    "out to sign with the local identity") from None
        log.warning("recordings will be kept UNSIGNED: %s", exc)
        return None


def sign_recording(path: Path | str, target_dir: Path | str, *, watermark: bool, identity):
    """Content Credentials on a closed recording (``provenance.content_credentials.sign_media``):
    synthetic, made by latentcam, showing the bundle at ``target_dir``, watermark on or off.
    Never raises and never loses the file: the result's ``warning`` says why it is unsigned (or,
    when signed with the local identity, that it is not a trusted issuer)."""
    from latentcam.provenance.content_credentials import SignResult, TargetInfo, sign_media

    try:
        target = TargetInfo.from_bundle(target_dir)
    except ValueError as exc:
        message = f"{path} was kept UNSIGNED: {exc}"
        log.warning(message)
        return SignResult(Path(path), False, warning=message)
    if identity is None:
        message = f"{path} was kept UNSIGNED: no usable signing identity (see the warning above)"
        return SignResult(Path(path), False, warning=message)
    return sign_media(path, target=target, watermark=watermark, identity=identity)


__all__ = ["SigningError", "SigningSettings", "WatermarkSettings", "WatermarkStage", "sign_recording", "signing_identity"]
