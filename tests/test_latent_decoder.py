"""The warping decoder's geometry: its displacement field moves the texture the way the crop's
pixel axes say (x right, y down), and an untrained decoder renders the texture in place."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from latentcam.latent.decoder import Decoder
from latentcam.latent.presets import get_preset

SIZE = 64


@pytest.fixture()
def decoder(testdata) -> Decoder:
    torch.manual_seed(0)
    dec = Decoder(get_preset("cpu", size=SIZE, warp=True).decoder).eval()
    photo = cv2.imread(str(testdata / "astronaut.png"))
    dec.set_texture(cv2.resize(photo, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    return dec


def _only_texture(dec: Decoder) -> None:
    """Blend weight ≈ 1 everywhere (pixel shuffle: channel 4 of the output = conv channels 16..19)."""
    with torch.no_grad():
        conv = dec.to_bgra[0]
        conv.weight[16:20].zero_()
        conv.bias[16:20].fill_(20.0)


def _render(dec: Decoder) -> np.ndarray:
    with torch.no_grad():
        out = dec(torch.zeros(1, dec.config.code_size))[0, :3].permute(1, 2, 0).numpy()
    return out


def test_untrained_decoder_renders_its_texture_in_place(decoder):
    _only_texture(decoder)
    texture = decoder.texture.detach()[0].permute(1, 2, 0).numpy()
    assert np.abs(_render(decoder) - texture).max() < 1e-4


@pytest.mark.parametrize("axis", [0, 1])
def test_displacement_moves_the_texture_along_its_axis(decoder, axis):
    _only_texture(decoder)
    shift_px = 4
    offset = 2 * shift_px / SIZE                       # grid units: 2 per crop side
    with torch.no_grad():
        decoder.to_flow.bias[axis] = math.atanh(offset / (2 * decoder.config.max_shift))
    texture = decoder.texture.detach()[0].permute(1, 2, 0).numpy()
    out = _render(decoder)
    # Sampling at x + d shows the texture's content from d pixels further along: a shift by -d.
    expected = np.roll(texture, -shift_px, axis=1 - axis)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(out[inner] - expected[inner]).max() < 1e-3
    assert np.abs(out[inner] - texture[inner]).mean() > 0.02   # it did move


def test_texture_must_match_the_crop(decoder):
    with pytest.raises(ValueError, match="texture"):
        decoder.set_texture(np.zeros((SIZE, SIZE + 1, 3), np.uint8))
