"""Target bundles: a directory holding one trained target, validated on load.

Layout (every file listed in the manifest with its size and sha256)::

    manifest.json          format, version, resolution, code size, preset, networks' configs,
                           neutral canonical landmarks (478×3), head-pose range, background
                           plate + alignment, provenance, consent/licence, files
    weights.safetensors    encoder.* and decoder.* tensors (torch state dicts): parameters
                           stored as float16, buffers as float32 (``weights_numpy`` returns
                           float32); bundles before 2026-11-27 hold float32 parameters
    latent.safetensors     training codes (N×Z), their mean and PCA directions (explore)
    encoder.onnx           features (1, F) float32 → z (1, Z)
    decoder.onnx           z (1, Z) float32 → image (1, 4, S, S) float32 BGRA in [0, 1]
                           (both compute in float32; large weights are stored as fp16 + Cast)
    background.png         a full source frame for portrait compositing
    samples/*.png          a few renders of training frames
    manifest.sig           (signed bundles) a signature over manifest.json's exact bytes, and
    manifest.signer.pem    the signer's certificate chain (``provenance.bundle_signature``)

The manifest lists every other file's sha256, so its signature covers the whole bundle: ``load``
checks the signature first (who signed it; an edited manifest is refused), then every file
against the manifest. An unsigned bundle loads with a warning, or not at all when a signed one
is required (``--require-signed``).

Loading never imports torch: the live CPU path runs the ONNX files with ONNX Runtime.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from latentcam.facekit.landmarks import NUM_LANDMARKS
from latentcam.facekit.errors import InputError
from latentcam.facekit.hashing import sha256_file

if TYPE_CHECKING:
    from latentcam.provenance.bundle_signature import BundleSigner

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "latentcam-target"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_FILES = ("weights", "latent", "encoder_onnx", "decoder_onnx")
ONNX_OPSET = 17  # ORT ≥ 1.12, TensorRT ≥ 8.6 and TensorRT-RTX all run it; has every op we use


class BundleError(InputError, ValueError):
    """The target bundle is missing, malformed, truncated or tampered with."""


def safe_member(root: Path, name: str) -> Path:
    """``root / name`` for a bundle-relative POSIX name; rejects absolute paths and escapes."""
    if not isinstance(name, str) or not name or "\\" in name or ":" in name:
        raise BundleError(f"bundle file name {name!r} is not a plain relative path")
    pure = PurePosixPath(name)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts):
        raise BundleError(f"bundle file name {name!r} points outside the bundle directory")
    path = (root / pure).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BundleError(f"bundle file name {name!r} resolves outside the bundle directory")
    return path


def write_manifest(root: Path, manifest: dict) -> Path:
    """Fill ``manifest['files']`` (size + sha256 of each named file) and write manifest.json.

    ``manifest['files']`` must map each role (e.g. ``"decoder_onnx"``) or sample to
    ``{"name": relative path}``.
    """
    root = Path(root)
    files = {}
    for role, entry in manifest["files"].items():
        path = safe_member(root, entry["name"])
        files[role] = {"name": entry["name"], "size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {**manifest, "files": files}
    out = root / MANIFEST
    out.write_text(json.dumps(manifest, indent=1))
    return out


_WARNED_UNSIGNED: set[Path] = set()


def _warn_unsigned(root: Path) -> None:
    key = root.resolve()
    if key in _WARNED_UNSIGNED:
        return
    _WARNED_UNSIGNED.add(key)
    log.warning("target bundle %s is NOT SIGNED: nothing shows who made it or that its manifest (consent, "
                "licence, file hashes) is unedited. If you trust its origin, sign it with `latentcam "
                "sign-bundle %s`; pass --require-signed to refuse unsigned bundles.", root, root)


@dataclass(frozen=True)
class TargetBundle:
    """A validated target bundle (see the module docstring for the layout)."""

    root: Path
    manifest: dict
    signer: "BundleSigner | None" = field(default=None, compare=False)   # None: unsigned

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, root: Path | str, verify_hashes: bool = True, require_signed: bool = False) -> "TargetBundle":
        """Read and validate a bundle directory; raises ``BundleError`` saying what is wrong.

        The signature is checked first: a manifest changed after signing is refused (naming
        the signer), an unsigned bundle is refused when ``require_signed``, else loaded with a
        logged warning (once per bundle folder and process).
        """
        from latentcam.provenance.bundle_signature import BundleSignatureError, verify_bundle

        root = Path(root)
        if not root.is_dir():
            raise BundleError(f"target bundle {root} does not exist (train one with "
                              f"`latentcam train DATA --out {root}`)")
        mf = root / MANIFEST
        if not mf.is_file():
            raise BundleError(f"{root} is not a target bundle: no {MANIFEST}")
        try:
            signer = verify_bundle(root, require_signed=require_signed)
        except BundleSignatureError as exc:
            raise BundleError(str(exc)) from None
        if signer is None:
            _warn_unsigned(root)
        try:
            manifest = json.loads(mf.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{mf} is not valid JSON ({exc}); the bundle is damaged — "
                              f"copy it again or re-train") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{mf}: not a {BUNDLE_FORMAT} manifest")
        version = manifest.get("version")
        if version != BUNDLE_VERSION:
            raise BundleError(f"{mf}: bundle format version {version!r} is not supported "
                              f"(this latentcam reads version {BUNDLE_VERSION}); re-export it")
        bundle = cls(root, manifest, signer)
        bundle._validate(verify_hashes)
        return bundle

    def _validate(self, verify_hashes: bool) -> None:
        m = self.manifest
        for key in ("resolution", "code_size", "feature_size", "files", "neutral_canonical",
                    "pose_range", "networks"):
            if key not in m:
                raise BundleError(f"{self.root / MANIFEST}: missing field {key!r}")
        files = m["files"]
        if not isinstance(files, dict):
            raise BundleError(f"{self.root / MANIFEST}: 'files' must be an object")
        for role in REQUIRED_FILES:
            if role not in files:
                raise BundleError(f"{self.root / MANIFEST}: no {role!r} file listed")
        for role, entry in files.items():
            path = safe_member(self.root, entry.get("name"))
            if not path.is_file():
                raise BundleError(f"bundle file {entry['name']} ({role}) is missing from {self.root}")
            size = path.stat().st_size
            if size != entry.get("size"):
                raise BundleError(f"bundle file {entry['name']} has {size} bytes, the manifest says "
                                  f"{entry.get('size')}: truncated or replaced — copy the bundle again")
            if verify_hashes and sha256_file(path) != entry.get("sha256"):
                raise BundleError(f"bundle file {entry['name']} does not match its sha256 in the "
                                  f"manifest: it was modified — restore or re-train the bundle")
        neutral = np.asarray(m["neutral_canonical"], dtype=np.float32)
        if neutral.shape != (NUM_LANDMARKS, 3):
            raise BundleError(f"{self.root / MANIFEST}: neutral_canonical has shape {neutral.shape}, "
                              f"expected ({NUM_LANDMARKS}, 3)")
        res = m["resolution"]
        if res not in (64, 128, 256, 512):
            raise BundleError(f"{self.root / MANIFEST}: unsupported resolution {res}")

    # -- contents --------------------------------------------------------------------------
    def file(self, role: str) -> Path:
        """Path of a listed file by role (``decoder_onnx``, ``weights``, ``background``...)."""
        if role not in self.manifest["files"]:
            raise BundleError(f"bundle {self.root} has no {role!r} file")
        return safe_member(self.root, self.manifest["files"][role]["name"])

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @property
    def watermark_id(self) -> int:
        """The 32-bit id the invisible watermark carries for this bundle: the first 4 bytes of
        the sha256 of its manifest.json (``provenance.watermark.bundle_id_from_manifest``)."""
        from latentcam.provenance.watermark import bundle_id_from_manifest

        return bundle_id_from_manifest(self.root / MANIFEST)

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    @property
    def code_size(self) -> int:
        return int(self.manifest["code_size"])

    @property
    def feature_size(self) -> int:
        return int(self.manifest["feature_size"])

    @property
    def decoder_kind(self) -> str:
        """The decoder design: "composed" (``latent.composed_decoder``), "warping" or "plain"
        (``latent.decoder``)."""
        dec = self.manifest["networks"]["decoder"]
        return "composed" if dec.get("design") == "composed" else "warping" if dec.get("warp") else "plain"

    @property
    def preset(self) -> str:
        return str(self.manifest.get("preset", "cpu"))

    @property
    def encoder_onnx(self) -> Path:
        return self.file("encoder_onnx")

    @property
    def decoder_onnx(self) -> Path:
        return self.file("decoder_onnx")

    @property
    def weights(self) -> Path:
        return self.file("weights")

    @property
    def neutral_canonical(self) -> np.ndarray:
        """(478, 3) float32: the target's neutral face in the canonical frame (cm)."""
        return np.asarray(self.manifest["neutral_canonical"], dtype=np.float32)

    @property
    def pose_range(self) -> dict[str, tuple[float, float]]:
        """{"yaw"|"pitch"|"roll": (min, max)} degrees seen in training."""
        return {k: (float(v[0]), float(v[1])) for k, v in self.manifest["pose_range"].items()}

    @property
    def background_alignment(self) -> np.ndarray | None:
        bg = self.manifest.get("background")
        return None if not bg else np.asarray(bg["alignment"], dtype=np.float64)

    def background(self) -> np.ndarray | None:
        """The background plate (H, W, 3) uint8 BGR, or None if the bundle has none."""
        if "background" not in self.manifest["files"]:
            return None
        import cv2
        img = cv2.imread(str(self.file("background")), cv2.IMREAD_COLOR)
        if img is None:
            raise BundleError(f"{self.file('background')} is not a readable image")
        return img

    def latent_stats(self) -> dict[str, np.ndarray]:
        """codes (N, Z), codes_mean (Z,), components (K, Z), explained_variance (K,),
        frame_index (N,)."""
        from safetensors.numpy import load_file
        return load_file(str(self.file("latent")))

    def weights_numpy(self) -> dict[str, np.ndarray]:
        """All tensors of ``weights.safetensors``, float16 ones widened to float32."""
        from safetensors.numpy import load_file
        return {k: v.astype(np.float32) if v.dtype == np.float16 else v
                for k, v in load_file(str(self.weights)).items()}
