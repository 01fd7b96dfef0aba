"""The target as the live path needs it: encoder, decoder, neutral face, pose range, plate.

Read from a ``latent.bundle.TargetBundle`` (the embedded default when no folder is given).
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcam.facekit.blendshapes import NUM_BLENDSHAPES
from latentcam.latent.bundle import TargetBundle
from latentcam.facekit.errors import LatentcamError


class TargetError(LatentcamError, RuntimeError):
    """The target cannot be used live; the message says what to do."""


def default_target_dir() -> Path:
    """``latentcam/assets/default_target`` inside the installed package."""
    import latentcam

    return Path(latentcam.__file__).resolve().parent / "assets" / "default_target"


@dataclass(frozen=True)
class LiveTarget:
    name: str
    directory: Path
    bundle: TargetBundle
    encoder_onnx: Path
    decoder_onnx: Path
    crop_size: int                   # S of the decoder's (S, S, 4) output
    code_size: int
    neutral_points: np.ndarray       # (478, 3) canonical cm
    neutral_pose: np.ndarray         # (3,) degrees
    neutral_blendshapes: np.ndarray  # (52,)
    pose_min: np.ndarray             # (3,) yaw/pitch/roll degrees seen in training
    pose_max: np.ndarray
    plate: np.ndarray | None         # background plate BGR
    plate_to_crop: np.ndarray | None  # 2×3 plate pixel → alignment crop (crop_size)


def load_live_target(directory: Path | str | None = None, require_signed: bool = False) -> LiveTarget:
    """The target at ``directory`` (default: the embedded one), its signature checked
    (``TargetBundle.load``; unsigned refused when ``require_signed``)."""
    from latentcam.latent.bundle import BundleError

    path = Path(directory) if directory else default_target_dir()
    if directory is None and not (path / "manifest.json").is_file():
        raise TargetError(f"the embedded default target is missing from {path}: the installation is "
                          "incomplete. Reinstall latentcam, or pass --target FOLDER.")
    try:
        bundle = TargetBundle.load(path, require_signed=require_signed)
    except BundleError as exc:
        error = TargetError(str(exc))
        error.exit_code = exc.exit_code          # a damaged, edited or unsigned bundle is bad input: 2
        raise error from None
    m = bundle.manifest
    pose_range = bundle.pose_range
    try:
        pose_min = np.array([pose_range[k][0] for k in ("yaw", "pitch", "roll")], np.float32)
        pose_max = np.array([pose_range[k][1] for k in ("yaw", "pitch", "roll")], np.float32)
    except KeyError as exc:
        raise TargetError(f"{path}: pose_range lacks {exc}; re-export the target") from None
    neutral_pose = np.asarray(m.get("neutral_pose", (pose_min + pose_max) / 2.0), np.float32)
    if "neutral_pose" not in m:
        neutral_pose = np.clip(np.zeros(3, np.float32), pose_min, pose_max)
    bs = m.get("neutral_blendshapes")
    neutral_bs = (np.zeros(NUM_BLENDSHAPES, np.float32) if bs is None
                  else np.asarray(bs, np.float32).reshape(NUM_BLENDSHAPES))
    plate = bundle.background()
    plate_to_crop = bundle.background_alignment
    if plate is not None and plate_to_crop is None:
        plate = None  # a plate we cannot place is useless; fall back to the neutral backdrop
    if plate_to_crop is not None:
        plate_to_crop = np.asarray(plate_to_crop, np.float64).reshape(2, 3)
        bg = m.get("background") or {}
        aligned_at = int(bg.get("size", bundle.resolution))
        if aligned_at != bundle.resolution:  # alignment given for another crop size: rescale
            plate_to_crop = plate_to_crop * (bundle.resolution / aligned_at)
    return LiveTarget(
        name=bundle.name, directory=path, bundle=bundle, encoder_onnx=bundle.encoder_onnx,
        decoder_onnx=bundle.decoder_onnx, crop_size=bundle.resolution, code_size=bundle.code_size,
        neutral_points=bundle.neutral_canonical, neutral_pose=neutral_pose,
        neutral_blendshapes=neutral_bs, pose_min=pose_min, pose_max=pose_max, plate=plate,
        plate_to_crop=plate_to_crop)


def target_geometry(target: LiveTarget):
    """The retargeter's view of ``target`` (``calibration.TargetGeometry``), read from the bundle
    manifest with its pose range, neutral face and expression / blendshape ranges. ``live`` and
    ``eval`` both build it here, so what ``eval`` measures is what ``live`` does. A bundle with a
    ``rig`` file (exported since the blendshape rig) brings the target's lower-face rig."""
    from latentcam.calibration import TargetGeometry
    from latentcam.facekit.rig import BlendshapeRig, RigError

    rig = None
    if "rig" in target.bundle.manifest["files"]:
        try:
            rig = BlendshapeRig.load(target.bundle.file("rig"))
        except RigError as exc:
            raise TargetError(f"{target.directory}: {exc}") from None
    return TargetGeometry.from_manifest(target.bundle.manifest, rig)


def make_retargeter(target: LiveTarget, profile: Path | str | None, options):
    """``calibration.Retargeter`` onto ``target``: with the saved profile, or self-calibrating
    when ``profile`` is None. The one place live and eval build it."""
    from latentcam.calibration import CalibrationProfile, Retargeter

    loaded = CalibrationProfile.load(profile) if profile else None
    return Retargeter(loaded, target_geometry(target), options)


class ExpressionEncoder:
    """``encoder.onnx`` on ONNX Runtime: features (F,) → code (1, Z) float32 (the VAE mean).

    Always on the CPU provider, whatever ``engine.ort_provider`` says: the encoder is a small MLP
    (0.47 M parameters in the embedded target) that takes ~0.05 ms per call on one CPU thread
    (``benchmarks/engines/results/ort_provider_cpu_check.md``). On an accelerator every call would
    add a host→device copy, kernel launches and a synchronising copy back, and queue behind the
    decoder on the same device — more than the whole CPU run costs — so only the decoder moves.
    """

    def __init__(self, path: Path, threads: int = 1):
        from latentcam.latent.onnx_session import cpu_session

        try:
            self._session = cpu_session(path, max(1, threads))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TargetError(f"cannot load the expression encoder {path}: {exc}. "
                              "Re-export the target bundle.") from exc
        inputs = self._session.get_inputs()
        self._input = inputs[0].name
        self.feature_size = int(inputs[0].shape[-1])
        self._output = self._session.get_outputs()[0].name  # first output = mean code

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32).reshape(1, -1)
        if x.shape[1] != self.feature_size:
            raise ValueError(f"encoder expects {self.feature_size} features, got {x.shape[1]}")
        return np.ascontiguousarray(self._session.run([self._output], {self._input: x})[0],
                                    dtype=np.float32)

    def encode(self, face) -> np.ndarray:
        """A retargeted face (``calibration.RetargetedFace``: points, blendshapes, pose) → code
        (1, Z): the features are built by the same function as in training."""
        from latentcam.latent.features import expression_features

        return self(expression_features(face.points, face.blendshapes, face.pose))

    def close(self) -> None:
        self._session = None
