"""torch → ONNX export and the target-bundle writer (training/export side only: imports torch).

``decoder_from_bundle`` / ``encoder_from_bundle`` rebuild the torch networks from a bundle's
weights and configs, so ``engines`` can export other variants (FP16, TensorRT) from them.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import shutil
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from latentcam.facekit.blendshapes import REGION_GROUPS, indices
from latentcam.facekit.rig import RIG_BLENDSHAPES, RIG_FILE, BlendshapeRig, score_response

from .bundle import BUNDLE_FORMAT, BUNDLE_VERSION, ONNX_OPSET, TargetBundle, write_manifest
from .decoder import Decoder, DecoderConfig, build_decoder
from .encoder import Encoder, EncoderConfig
from .features import FEATURE_SIZE, POINT_SCALE, POSE_SCALE, lower_face_points

ENCODER_IO = ("features", "z")
DECODER_IO = ("z", "image")
RIG_RIDGE = 0.01               # ridge strength per frame of the blendshape rig (scores 0..1, cm)
# The exponents of the rig's score response the export chooses from (facekit.rig.score_response;
# benchmarks/latent/rig_exponent.md measured 0.4..1 on four training sets), and the folds of the
# cross-validation that chooses.
RIG_EXPONENTS = (0.5, 0.6, 0.75, 1.0)
RIG_FOLDS = 5


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, input_name: str,
                output_name: str, opset: int = ONNX_OPSET) -> Path:
    """Export with static shapes (batch 1) using the TorchScript-based exporter.

    Static shapes let TensorRT and ONNX Runtime plan every buffer ahead of time; the legacy
    exporter needs no onnxscript and produces plain Gemm/Conv/Resize/DepthToSpace graphs.
    """
    import warnings

    module = module.eval()
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript and emits graphs TensorRT-RTX has not been verified with here.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (example,), buf, input_names=[input_name],
                          output_names=[output_name], opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    path = Path(path)
    path.write_bytes(buf.getvalue())
    return path


#: Initialisers at least this large are stored as fp16 in the bundle's ONNX files.
_FP16_STORE_MIN_ELEMENTS = 16


def round_parameters_to_fp16(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters hold fp16-representable values (still float32).

    Bundles store parameters at half precision (half the megabytes) while every engine computes
    in float32 from exactly these values, so the safetensors weights, the ONNX graphs and the
    torch modules rebuilt from the bundle agree bit for bit. Buffers (the encoder's input
    standardisation) keep float32: their rounding would shift features by a tenth of a std.
    """
    module = copy.deepcopy(module)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())
    return module


def store_initializers_as_fp16(path: Path) -> None:
    """Rewrite an ONNX file so that large float32 initialisers are stored as fp16 followed by a
    Cast to float32. Lossless for ``round_parameters_to_fp16`` weights; ONNX Runtime folds the
    casts when it loads the graph, so the float32 computation and its speed are unchanged."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < _FP16_STORE_MIN_ELEMENTS:
            kept.append(init)
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            kept.append(init)        # not fp16-exact (a buffer): keep float32
            continue
        kept.append(numpy_helper.from_array(half, init.name + "_fp16"))
        casts.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class _EncoderMean(nn.Module):
    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.encoder(features)


def export_encoder_onnx(encoder: Encoder, path: Path) -> Path:
    """features (1, F) → z (1, Z) (the mean; the VAE's variance head is not exported)."""
    example = torch.zeros(1, encoder.config.feature_size)
    return export_onnx(_EncoderMean(encoder), example, path, *ENCODER_IO)


def export_decoder_onnx(decoder: nn.Module, path: Path, opset: int = ONNX_OPSET) -> Path:
    """z (1, Z) float32 → image (1, 4, S, S) float32 BGRA in [0, 1]."""
    example = torch.zeros(1, decoder.config.code_size)
    return export_onnx(decoder, example, path, *DECODER_IO, opset=opset)


def _networks(bundle: TargetBundle) -> tuple[EncoderConfig, DecoderConfig]:
    nets = bundle.manifest["networks"]
    enc = EncoderConfig(**nets["encoder"])
    d = dict(nets["decoder"])
    for key in ("channels", "region_channels", "tail_channels"):
        if key in d:
            d[key] = tuple(d[key])
    return enc, DecoderConfig(**d)


def _load_prefixed(module: nn.Module, weights: dict, prefix: str) -> nn.Module:
    state = {k[len(prefix):]: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in weights.items() if k.startswith(prefix)}
    module.load_state_dict(state)
    return module.eval()


def decoder_from_bundle(bundle: TargetBundle) -> nn.Module:
    """The bundle's decoder as a torch module (eval mode, CPU, float32)."""
    return _load_prefixed(build_decoder(_networks(bundle)[1]), bundle.weights_numpy(), "decoder.")


def encoder_from_bundle(bundle: TargetBundle) -> Encoder:
    """The bundle's encoder as a torch module (eval mode, CPU, float32)."""
    return _load_prefixed(Encoder(_networks(bundle)[0]), bundle.weights_numpy(), "encoder.")


def neutral_frames(blendshapes: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Indices of the least expressive frames (lowest summed mouth/eye/brow blendshapes)."""
    idx = indices(tuple(n for names in REGION_GROUPS.values() for n in names))
    energy = blendshapes[:, idx].sum(axis=1)
    k = max(1, int(round(fraction * len(blendshapes))))
    return np.argsort(energy)[:k]


def target_neutral_rows(data) -> np.ndarray:
    """Rows whose mean is the target's neutral face (the retargeter's reference): the frame the
    dataset names as its neutral (``neutral_frame``: a one-photo set's relaxed portrait, its
    lips closed) when it is in ``data``, else the least expressive tenth of the frames."""
    named = data.manifest.get("neutral_frame")
    rows = np.flatnonzero(data.frame_index == named) if named is not None else np.array([], np.int64)
    return rows[:1] if rows.size else neutral_frames(data.blendshapes)


def fit_blendshape_rig(data, ridge: float = RIG_RIDGE, scores: tuple[str, ...] = RIG_BLENDSHAPES,
                       exponent: float | None = None) -> tuple[BlendshapeRig, int, dict]:
    """The target's lower face per blendshape (``facekit.rig``): how far each lower-face point of
    the target's own frames moves per unit of each score's response, a ridge regression through
    the neutral face (``target_neutral_rows``) on the frames nothing covers, on the blendshapes
    ``scores`` only (default: the principal mouth scores ``RIG_BLENDSHAPES``; the other rows stay
    zero, see ``facekit.rig``). ``exponent`` None: ``rig_exponent``'s choice for this training
    set. Returns the rig, the number of frames fitted and how the exponent was chosen."""
    x, y, points, columns = rig_regression_data(data, scores)
    choice = {"exponent": exponent, "chosen_by": "given"} if exponent is not None \
        else rig_exponent(data, x, y, ridge)
    a = ridge_through_origin(score_response(x, choice["exponent"]), y, ridge)
    displacement = np.zeros((data.blendshapes.shape[1], len(points), 3))
    displacement[columns] = a.reshape(len(columns), len(points), 3)
    return BlendshapeRig(points, displacement, choice["exponent"]), len(x), choice


def rig_exponent(data, x: np.ndarray, y: np.ndarray, ridge: float = RIG_RIDGE) -> dict:
    """The score response's exponent for a target's rig (``facekit.rig``), and how it was chosen.

    A one-photo target (its training set is ``synthetic``) gets the candidate of ``RIG_EXPONENTS``
    that places held-out frames best (``rig_exponent_errors``): its frames come from recipes
    that span every principal mouth movement, so a rig fitted on them is not asked for
    expressions unlike all of them, and a power below 1 lets the small asks MediaPipe's dead zone
    hides show (the embedded target: 0.6). A recorded target keeps the linear rig: a recording
    may lack whole expressions, and fitted on the Wolfgang clip's crying half, a power rig places
    her laughing half worse than the linear one, though cross-validation within the crying half
    prefers it (``benchmarks/latent/rig_exponent.md``)."""
    if not data.manifest.get("synthetic"):
        return {"exponent": 1.0, "chosen_by": "recorded training set: linear"}
    errors = rig_exponent_errors(x, y, ridge)
    if not errors:
        return {"exponent": 1.0, "chosen_by": "too few frames to compare: linear"}
    best = min(errors.values())
    return {"exponent": max(p for p, e in errors.items() if e <= best),   # ties: the larger
            "chosen_by": f"{RIG_FOLDS}-fold cross-validation on the synthetic training set",
            "cv_error_cm": {str(p): round(e, 5) for p, e in errors.items()}}


def rig_exponent_errors(x: np.ndarray, y: np.ndarray, ridge: float = RIG_RIDGE,
                        exponents: tuple[float, ...] = RIG_EXPONENTS, folds: int = RIG_FOLDS,
                        random_folds: bool = False) -> dict[float, float]:
    """Per candidate exponent: the mean distance (cm) between held-out frames' lower-face points
    and where a rig fitted on the other frames puts them, over ``folds`` contiguous stretches
    of the frames (``random_folds``: frames dealt to folds at random, seed 0, for comparison);
    empty with fewer than two frames per fold."""
    n = len(x)
    if n < 2 * folds:
        return {}
    fold = (np.random.default_rng(0).permutation(n) % folds if random_folds
            else (np.arange(n) * folds) // n)
    errors = {}
    for p in exponents:
        err = []
        for k in range(folds):
            fit, held = fold != k, fold == k
            a = ridge_through_origin(score_response(x[fit], p), y[fit], ridge)
            miss = (score_response(x[held], p) @ a - y[held]).reshape(int(held.sum()), -1, 3)
            err.append(float(np.linalg.norm(miss, axis=2).mean()))
        errors[float(p)] = float(np.mean(err))
    return errors


def rig_regression_data(data, scores: tuple[str, ...] = RIG_BLENDSHAPES):
    """What ``fit_blendshape_rig`` regresses: per frame nothing covers (all frames when too few
    are clear), the change of ``scores`` from the neutral (frames × scores) and the lower-face
    points' move from the neutral (frames × 3n); with the points and the score columns."""
    calm = target_neutral_rows(data)
    points = lower_face_points()
    columns = indices(scores)
    keep = ~data.occluded
    if keep.sum() < 2 * len(columns):
        keep = np.ones(len(data.blendshapes), bool)   # too few clear frames: use them all
    bs = data.blendshapes[:, columns].astype(np.float64)
    x = bs[keep] - bs[calm].mean(axis=0)
    y = (data.canonical[keep][:, points].astype(np.float64)
         - data.canonical[calm][:, points].astype(np.float64).mean(axis=0)).reshape(int(keep.sum()), -1)
    return x, y, points, columns


def ridge_through_origin(x: np.ndarray, y: np.ndarray, ridge: float = RIG_RIDGE) -> np.ndarray:
    """Coefficients of ``y ≈ x @ a`` with no intercept, ridge strength ``ridge`` per row."""
    return np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ y)


def write_blendshape_rig(out: Path, data) -> dict:
    """Fit the target's rig on ``data`` and write it into the bundle folder ``out``; returns the
    manifest's ``blendshape_rig`` entry (the file itself goes into ``files`` as role ``rig``)."""
    rig, frames, choice = fit_blendshape_rig(data)
    rig.save(Path(out) / RIG_FILE)
    return {"file": RIG_FILE, "points": int(rig.points.size), "ridge": RIG_RIDGE, "frames": frames,
            "blendshapes": list(RIG_BLENDSHAPES), **choice}


def _pca(codes: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = codes.mean(axis=0)
    _, sv, vt = np.linalg.svd(codes - mean, full_matrices=False)
    var = sv ** 2 / max(1, len(codes) - 1)
    k = min(k, len(sv))
    return mean.astype(np.float32), vt[:k].astype(np.float32), var[:k].astype(np.float32)


def _check_onnx(path: Path, module: nn.Module, example: torch.Tensor, what: str) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = module(example).numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: example.numpy()})[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-3:
        raise RuntimeError(f"{what}.onnx differs from the torch network by {err:.2e}; "
                           f"the export is broken (torch {torch.__version__})")
    return err


def write_target_bundle(out: Path, encoder: Encoder, decoder: nn.Module, data, preset, opts,
                        info: dict, identity=None) -> Path:
    """Write a complete, validated bundle for trained networks (CPU, eval mode), signed by
    ``identity`` (``provenance.identity.SigningIdentity``) when one is given."""
    from safetensors.numpy import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    encoder = round_parameters_to_fp16(encoder.eval().cpu())
    decoder = round_parameters_to_fp16(decoder.eval().cpu())
    size = decoder.config.size

    weights = {}
    for prefix, module in (("encoder", encoder), ("decoder", decoder)):
        params = {name for name, _ in module.named_parameters()}
        for k, v in module.state_dict().items():
            v = v.detach().numpy()
            weights[f"{prefix}.{k}"] = v.astype(np.float16) if k in params else v.copy()
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(out / "weights.safetensors"))

    with torch.no_grad():
        codes = encoder(torch.from_numpy(data.features)).numpy()
    mean, comps, var = _pca(codes)
    stats = {"codes": codes, "codes_mean": mean, "components": comps, "explained_variance": var,
             "frame_index": data.frame_index.astype(np.int64)}
    # safetensors writes raw memory: every array must be C-contiguous.
    save_file({k: np.ascontiguousarray(v) for k, v in stats.items()}, str(out / "latent.safetensors"))

    rig_entry = write_blendshape_rig(out, data)

    for path in (export_encoder_onnx(encoder, out / "encoder.onnx"),
                 export_decoder_onnx(decoder, out / "decoder.onnx")):
        store_initializers_as_fp16(path)
    enc_err = _check_onnx(out / "encoder.onnx", encoder, torch.from_numpy(data.features[:1]), "encoder")
    dec_err = _check_onnx(out / "decoder.onnx", decoder, torch.from_numpy(codes[:1]), "decoder")

    files = {"weights": {"name": "weights.safetensors"}, "latent": {"name": "latent.safetensors"},
             "encoder_onnx": {"name": "encoder.onnx"}, "decoder_onnx": {"name": "decoder.onnx"},
             "rig": {"name": RIG_FILE}}
    background = None
    src_bg = data.path / "background.png"
    bg_align = data.manifest.get("background_alignment")
    if src_bg.is_file() and bg_align is not None:
        shutil.copyfile(src_bg, out / "background.png")
        files["background"] = {"name": "background.png"}
        scale = size / float(data.manifest.get("crop_size", size))
        # The plate → crop similarity at the bundle's resolution ("size").
        background = {"file": "background.png", "size": size,
                      "alignment": (np.asarray(bg_align, dtype=np.float64) * scale).tolist(),
                      "frame": data.manifest.get("background_frame")}

    picks = np.linspace(0, len(data) - 1, min(4, len(data))).round().astype(int)
    with torch.no_grad():
        renders = decoder(torch.from_numpy(codes[picks])).numpy().transpose(0, 2, 3, 1)
    for j, r in enumerate(renders):
        bgra = np.clip(r * 255 + 0.5, 0, 255).astype(np.uint8)
        name = f"samples/render_{j:02d}.png"
        cv2.imwrite(str(out / name), bgra)
        files[f"sample_{j:02d}"] = {"name": name}

    calm = target_neutral_rows(data)
    neutral = data.canonical[calm].mean(axis=0)
    neutral_bs = data.blendshapes[calm].mean(axis=0)
    from latentcam.facekit.blendshapes import GROUPS
    bs_ranges = {}
    for group, names in GROUPS.items():
        score = data.blendshapes[:, indices(names)].mean(axis=1)
        bs_ranges[group] = round(max(0.0, float(np.percentile(score, 98)) - float(score[calm].mean())), 5)
    pose_range = {k: [round(float(data.pose[:, i].min()), 3), round(float(data.pose[:, i].max()), 3)]
                  for i, k in enumerate(("yaw", "pitch", "roll"))}
    src = data.manifest.get("source", {})
    licence = opts.licence if opts.licence != "unspecified" else data.manifest.get("licence", opts.licence)
    manifest = {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
        "name": opts.name or out.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "resolution": size, "code_size": decoder.config.code_size, "feature_size": FEATURE_SIZE,
        "features": {"version": 1, "point_scale": POINT_SCALE, "pose_scale": POSE_SCALE},
        "preset": preset.name, "presets": [preset.name],
        "networks": {"encoder": asdict(encoder.config), "decoder": asdict(decoder.config)},
        "onnx": {"opset": ONNX_OPSET, "encoder": {"input": ENCODER_IO[0], "output": ENCODER_IO[1],
                                                   "input_shape": [1, FEATURE_SIZE],
                                                   "max_abs_diff_vs_torch": enc_err},
                 "decoder": {"input": DECODER_IO[0], "output": DECODER_IO[1],
                             "output_shape": [1, 4, size, size], "channels": "BGRA",
                             "range": [0.0, 1.0], "max_abs_diff_vs_torch": dec_err}},
        "neutral_canonical": np.round(neutral, 4).tolist(),
        "pose_range": pose_range,
        # Read by calibration.TargetGeometry.from_manifest (the retargeter's view of the target).
        "neutral_pose": np.round(data.pose[calm].mean(axis=0), 3).tolist(),
        "neutral_blendshapes": np.round(neutral_bs, 5).tolist(),
        "blendshape_ranges": bs_ranges,
        "blendshape_rig": rig_entry,    # facekit.rig: the lower face from the retargeted blendshapes
        "background": background,
        "provenance": {"dataset": str(data.path), "dataset_source": src,
                       "synthetic": bool(data.manifest.get("synthetic", False)),
                       "dataset_frames": int(data.manifest.get("frames", len(data))),
                       "frames_trained": len(data), "training": info},
        "consent": {"licence": licence, "statement": opts.consent},
        "files": files,
    }
    from latentcam.provenance.bundle_signature import SIGNATURE_FILE, SIGNER_FILE, sign_bundle

    for stale in (SIGNATURE_FILE, SIGNER_FILE):   # a signature of an earlier manifest (resumed run)
        (out / stale).unlink(missing_ok=True)
    write_manifest(out, manifest)
    if identity is not None:
        signer = sign_bundle(out, identity)
        print(f"signed {out} as {signer.subject}" + (" (local identity: not a trusted issuer; use --sign-cert/"
                                                      "--sign-key for your own certificate)" if signer.local else ""))
    TargetBundle.load(out)  # the bundle we just wrote must pass our own validation
    return out
