"""The composed decoder (latent/composed_decoder.py): each face region follows only its own half
of the code, the regions join without a seam, exemplars come from the right real frames, and
the ONNX export renders what torch renders."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from latentcam.latent.composed_decoder import ComposedDecoder
from latentcam.latent.decoder import build_decoder
from latentcam.latent.presets import get_preset

from support.networks import spread_init

SIZE = 128
FLOW_SCALE = 0.05    # trained fields move the texture by pixels, not across the crop




@pytest.fixture()
def decoder(testdata) -> ComposedDecoder:
    dec = build_decoder(get_preset("cpu", size=SIZE, composed=True).decoder)
    assert isinstance(dec, ComposedDecoder)
    spread_init(dec, seed=0)
    with torch.no_grad():
        dec.to_flow.weight.mul_(FLOW_SCALE)
        dec.to_flow.bias.mul_(FLOW_SCALE)
    photo = cv2.resize(cv2.imread(str(testdata / "astronaut.png")), (SIZE, SIZE),
                       interpolation=cv2.INTER_AREA)
    # Five different real textures: the photo, flipped, shifted, darker, blurred.
    crops = np.stack([photo, photo[:, ::-1], np.roll(photo, 9, axis=0),
                      (photo * 0.6).astype(np.uint8), cv2.GaussianBlur(photo, (9, 9), 3)])
    dec.set_textures(crops)
    return dec


def _codes(z: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, z, generator=g) * 2, torch.randn(1, z, generator=g) * 2


def _render(dec, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return dec(z)[0].numpy()


def _band_rows(dec: ComposedDecoder) -> tuple[int, int]:
    """First and last output row where the join's weight is strictly between 0 and 1."""
    w = dec.lower_weight.flatten().numpy()
    inside = np.nonzero((w > 0) & (w < 1))[0]
    scale = SIZE // len(w)
    return int(inside[0]) * scale, int(inside[-1] + 1) * scale


def test_upper_face_ignores_the_lower_half_code(decoder):
    za, zb = _codes(decoder.config.code_size, 1)
    half = decoder.config.code_size // 2
    mixed = torch.cat([za[:, :half], zb[:, half:]], dim=1)       # only the lower half differs
    a, b = _render(decoder, za), _render(decoder, mixed)
    top, bottom = _band_rows(decoder)
    margin = SIZE // 4   # 4 rows at S/8: tail and heads (3×3), bilinear upsampling, the field
    upper, lower = slice(0, top - margin), slice(bottom + margin, SIZE)
    assert np.abs(a[:, upper] - b[:, upper]).max() < 1e-6
    assert np.abs(a[:, lower] - b[:, lower]).mean() > 1e-2        # the mouth did follow zb


def test_lower_face_ignores_the_upper_half_code(decoder):
    za, zb = _codes(decoder.config.code_size, 2)
    half = decoder.config.code_size // 2
    mixed = torch.cat([zb[:, :half], za[:, half:]], dim=1)       # only the upper half differs
    a, b = _render(decoder, za), _render(decoder, mixed)
    top, bottom = _band_rows(decoder)
    margin = SIZE // 4
    assert np.abs(a[:, bottom + margin:] - b[:, bottom + margin:]).max() < 1e-6
    assert np.abs(a[:, :top - margin] - b[:, :top - margin]).mean() > 1e-2


def test_regions_join_without_a_seam(decoder):
    """Upper face moved 6 px down, lower face 6 px up: one continuous field takes the 12 px
    step over the join's width, so no output row jumps by more than a fraction of it — where
    blending two rendered images would double or cut the rows at the join."""
    dec = decoder
    shift_px = 6.0
    with torch.no_grad():
        # The trunks' last conv + LeakyReLU(0.2) output constant features: +1 upper, −1 lower.
        for trunk, bias in ((dec.upper, 1.0), (dec.lower, -5.0)):
            last = trunk.blocks[-2]
            last.weight.zero_()
            last.bias.fill_(bias)
        # The tail passes channel 0 on as 2 + feature (3 above the join, 1 below) ...
        conv = dec.tail[1]
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.bias[0] = 2.0
        # ... and the field head turns it into flow_y = ±shift_px: tanh(L·(v − 2)) · 2·max_shift.
        target = shift_px * 2 / SIZE / (2 * dec.config.max_shift)
        logit = float(np.arctanh(target))
        dec.to_flow.weight.zero_()
        dec.to_flow.bias.zero_()
        dec.to_flow.weight[1, 0, 1, 1] = logit
        dec.to_flow.bias[1] = -2 * logit
        z = torch.zeros(1, dec.config.code_size)
        flow = torch.tanh(dec.to_flow(dec.tail(dec.features(z)))) * (2 * dec.config.max_shift)
        flow = torch.nn.functional.interpolate(flow, size=(SIZE, SIZE), mode="bilinear",
                                               align_corners=False)[0, 1] * (SIZE / 2)
    column = flow[:, SIZE // 2].numpy()
    assert column[4] == pytest.approx(shift_px, abs=0.05)        # upper face: +6 px
    assert column[-4] == pytest.approx(-shift_px, abs=0.05)      # lower face: −6 px
    steps = np.abs(np.diff(column))
    assert steps.max() < 0.25 * 2 * shift_px                     # spread over ≥ 4 rows
    # The rendered rows follow the field: sampled source rows never fold back or skip far.
    source_rows = np.arange(SIZE) + column
    assert np.diff(source_rows).min() > -0.01                    # no fold (no doubled rows)
    assert np.diff(source_rows).max() < 1.0 + 0.25 * 2 * shift_px


def test_untrained_decoder_starts_from_the_neutral_exemplar(testdata):
    dec = build_decoder(get_preset("cpu", size=SIZE, composed=True).decoder).eval()
    w = dec.exemplar_weights(torch.zeros(1, dec.config.code_size))
    assert torch.allclose(w[:, 0], torch.full_like(w[:, 0], w[0, 0, 0, 0].item()))
    assert w[:, 0].min() > 0.8 and w[:, 1:].max() < 0.05


def test_onnx_export_matches_torch(decoder, tmp_path):
    import onnxruntime as ort

    from latentcam.latent.export import (export_decoder_onnx, round_parameters_to_fp16,
                                         store_initializers_as_fp16)

    dec = round_parameters_to_fp16(decoder)
    path = store_initializers_as_fp16(export_decoder_onnx(dec, tmp_path / "d.onnx")) or tmp_path / "d.onnx"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed in (3, 4):
        z = _codes(dec.config.code_size, seed)[0]
        ref = _render(dec, z)
        got = sess.run(None, {"z": z.numpy()})[0][0]
        assert ref.std() > 0.05
        assert np.abs(ref - got).max() < 1e-4


def test_config_errors_name_the_fix():
    cfg = get_preset("cpu", size=SIZE, composed=True).decoder
    with pytest.raises(ValueError, match="design"):
        build_decoder(replace(cfg, design="mosaic"))
    with pytest.raises(ValueError, match="exemplar"):
        build_decoder(replace(cfg, exemplars=0))
    dec = build_decoder(cfg)
    with pytest.raises(ValueError, match=r"\(5, 128, 128, 3\)"):
        dec.set_textures(np.zeros((4, SIZE, SIZE, 3), np.uint8))


# --- exemplars and training on real data ----------------------------------------------------

@pytest.fixture(scope="module")
def dataset(tmp_path_factory, single_face_clip):
    from support.datasets import build_dataset

    return build_dataset(single_face_clip, tmp_path_factory.mktemp("data") / "sf", size=64,
                         max_frames=40)


def test_exemplars_cover_distinct_expressions_from_usable_frames(dataset):
    from latentcam.facekit.blendshapes import GROUPS, indices
    from latentcam.latent.exemplars import choose_exemplars, exemplar_scores
    from latentcam.latent.training_data import load_training_data

    data = load_training_data(dataset, 64)
    picks = choose_exemplars(data.blendshapes, data.pose, 5)
    assert len(set(picks)) == 5
    neutral = exemplar_scores(data.blendshapes)["neutral"]
    assert neutral[picks[0]] >= np.percentile(neutral, 90)          # the calmest frames
    smile = data.blendshapes[:, indices(GROUPS["smile"])].mean(axis=1)
    assert smile[picks].max() >= np.percentile(smile, 95)           # single_face ends smiling
    # Frames marked occluded are passed over while unoccluded ones remain.
    usable = np.ones(len(data), bool)
    usable[picks] = False
    again = choose_exemplars(data.blendshapes, data.pose, 5, usable)
    assert not set(again) & set(picks)


def test_composed_training_writes_a_bundle_that_renders_its_exemplars(dataset, tmp_path):
    import onnxruntime as ort

    from latentcam.latent.bundle import TargetBundle
    from latentcam.latent.export import decoder_from_bundle
    from latentcam.latent.train import TrainOptions, train

    out = train(TrainOptions(dataset, tmp_path / "t", size=64, steps=12, batch_size=4,
                             composed=True, sample_every=12, checkpoint_every=12, progress=False))
    bundle = TargetBundle.load(out)
    assert bundle.manifest["networks"]["decoder"]["design"] == "composed"
    dec = decoder_from_bundle(bundle)
    assert isinstance(dec, ComposedDecoder)
    # Exemplar 0 is the most neutral training crop (set before training, refined since).
    from latentcam.latent.exemplars import choose_exemplars
    from latentcam.latent.training_data import load_training_data
    data = load_training_data(dataset, 64)
    first = choose_exemplars(data.blendshapes, data.pose, 5)[0]
    tex = dec.textures.detach()[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(tex - data.images[first]).mean() < 8
    # The bundle's ONNX decoder renders the training codes as the torch module does.
    codes = bundle.latent_stats()["codes"][[0, -1]]
    sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    for z in codes:
        with torch.no_grad():
            ref = dec(torch.from_numpy(z[None])).numpy()
        assert np.abs(sess.run(None, {"z": z[None]})[0] - ref).max() < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_export_keeps_the_composed_decoder_within_tolerance(decoder, tmp_path, precision):
    """The engines' exporter (fp16: a strongly typed half graph for TensorRT) checks its own
    ONNX Runtime output against torch; coordinates and exemplar weights stay float32 inside."""
    from latentcam.engines.export import ExportOptions, export_decoder

    report = export_decoder(decoder, decoder.config.code_size, tmp_path / f"d_{precision}.onnx",
                            ExportOptions(precision=precision))
    assert report.max_abs_error <= report.tolerance


def test_encoder_without_jaw_line_ignores_the_face_oval_in_its_lower_half():
    from latentcam.latent.encoder import Encoder, EncoderConfig, _oval_columns
    from latentcam.latent.features import FEATURE_SIZE

    torch.manual_seed(0)
    feats = torch.randn(1, FEATURE_SIZE)
    moved = feats.clone()
    moved[:, _oval_columns()] += 1.0                    # only the face-oval points move
    half = EncoderConfig().code_size // 2
    with torch.no_grad():
        jawless = Encoder(EncoderConfig(lower_oval=False)).eval()
        assert torch.equal(jawless(feats)[:, half:], jawless(moved)[:, half:])
        full = Encoder(EncoderConfig()).eval()
        assert not torch.equal(full(feats)[:, half:], full(moved)[:, half:])
