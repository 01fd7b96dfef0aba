"""Composed decoder: face regions driven by their own half of the code, painted from exemplars.

Same contract as ``latent.decoder.Decoder``: z (B, Z) float32 → (B, 4, S, S) BGRA in [0, 1], in
the alignment-crop frame; selected by ``DecoderConfig.design == "composed"``
(``latent.decoder.build_decoder``).

Why. A single decoder fed one code for the whole face falls back, for an unseen *combination*
(eyes closed while laughing), to the nearest whole face it has seen (crying); a single texture
warped into every expression has no teeth, no closed lids of its own (``../shared/DESIGN.md``,
the two prototypes). Here:

* **Regions.** Two small trunks — the *upper* one reads only ``z[:, :Z/2]`` (the factorised
  encoder's eyes/brows half), the *lower* one only ``z[:, Z/2:]`` (mouth/jaw) — each grow
  their half-code to features at S/8. The features are joined by a fixed soft mask in the crop
  (a smoothstep band, ``DecoderConfig.region_band`` of the side, around
  ``features.crop_split_row``: the row region mixing cuts at in training) and everything after
  that is shared and spatially local (bilinear ×2, a 3×3 conv at S/4, 3×3 heads). Joining
  *features, fields and weights* rather than two rendered images leaves no seam: the picture is
  one continuous texture moved by one continuous field. Farther than a quarter of the side
  from the band (the tail's and heads' reach plus the field's few pixels) the output does not
  depend on the other region's half-code at all (``tests/test_latent_composed_decoder.py``);
  closer, the two codes blend.
* **Exemplars.** K textures, each initialised from a real training crop chosen by the coverage
  measures (``latent.exemplars``: neutral, widest open mouth, widest smile, eyes closed, brows
  up), refined in training. Per-pixel softmax weights predicted at S/4 mix them *in texture
  space* into one texture, which the displacement field then moves with a single bilinear
  gather: K exemplars cost one warp, not K (the gather alone is ~1 ms at 256² on 2 CPU cores).
* **Generated branch.** A shared tail grows the joined features to S/2 (pixel shuffle to S/2,
  bilinear to S): generated colour, alpha, and the blend between the warped exemplar mix and the
  generated colour — for what no exemplar has.

Initialisation: field zero, exemplar 0 (neutral) weighted ~0.8, blend leaning to the exemplars:
training starts from "neutral crop in place".
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .decoder import DecoderConfig

_NEUTRAL_LOGIT = 3.0      # initial bias of exemplar 0's logit (the others 0): weight ~0.8 at K = 5
_BLEND_LOGIT = 1.0        # initial bias of the blend logit: 0.73 exemplars, 0.27 generated


def _stages(first: int, widths: tuple[int, ...], count: int, mode: str = "nearest"
            ) -> tuple[nn.Sequential, int]:
    """``count`` × (×2 upsampling, 3×3 conv, LeakyReLU) from ``first`` channels; → (module, width)."""
    widths = tuple(widths) + (widths[-1],) * max(0, count + 1 - len(widths))
    mods: list[nn.Module] = []
    width = first
    for i in range(count):
        mods += [nn.Upsample(scale_factor=2, mode=mode),
                 nn.Conv2d(width, widths[i + 1], 3, padding=1), nn.LeakyReLU(0.2)]
        width = widths[i + 1]
    return nn.Sequential(*mods), width


class _Trunk(nn.Module):
    """Half-code (B, Z/2) → features (B, C, S/8, S/8)."""

    def __init__(self, code: int, widths: tuple[int, ...], stages: int):
        super().__init__()
        self.c0 = widths[0]
        self.fc = nn.Linear(code, self.c0 * 16)
        self.blocks, self.width = _stages(self.c0, widths, stages)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.leaky_relu(self.fc(z), 0.2).view(-1, self.c0, 4, 4))


def lower_region_weight(size: int, rows: int, band: float) -> torch.Tensor:
    """(1, 1, rows, 1): 0 above the join, 1 below, a smoothstep across ``band`` (a fraction of
    the crop side) centred on ``features.crop_split_row`` — exactly 0 / 1 outside the band."""
    from .features import crop_split_row

    centre = crop_split_row(size) / size                     # fraction of the side
    y = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows
    t = ((y - centre) / band + 0.5).clamp(0, 1)
    return (t * t * (3 - 2 * t)).view(1, 1, rows, 1)


class ComposedDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        s, k = config.size, config.exemplars
        if s < 32 or s & (s - 1):
            raise ValueError(f"composed decoder size must be a power of two ≥ 32, got {s}")
        if config.code_size % 2:
            raise ValueError(f"composed decoder needs an even code_size, got {config.code_size}")
        if k < 1:
            raise ValueError(f"composed decoder needs at least one exemplar, got {k}")
        low = s // 8
        trunk_stages = int(math.log2(low)) - 2               # 4 → S/8
        half = config.code_size // 2
        widths = tuple(config.region_channels)
        self.upper = _Trunk(half, widths, trunk_stages)
        self.lower = _Trunk(half, widths, trunk_stages)
        width = self.upper.width
        self.register_buffer("lower_weight", lower_region_weight(s, low, config.region_band))
        # Shared tail S/8 → S/4, then BGR + alpha + blend at S/2 by pixel shuffle. Bilinear, not
        # nearest, upsampling: a nearest copy turns the join's ramp into steps, and a field that
        # differs between the regions would fold the texture at each step (a seam).
        self.tail, tail_width = _stages(width, (width,) + tuple(config.tail_channels), 1, "bilinear")
        self.to_out = nn.Sequential(nn.Conv2d(tail_width, 4 * 5, 3, padding=1), nn.PixelShuffle(2))
        with torch.no_grad():
            self.to_out[0].bias[16:20] = _BLEND_LOGIT   # pixel-shuffle channel 4 = conv 16..19
        # Heads at S/``head_stride`` (4: on the tail's features, 8: on the joined trunks'):
        # displacement field (2) and exemplar logits (K).
        if config.head_stride not in (4, 8):
            raise ValueError(f"head_stride must be 4 or 8, got {config.head_stride}")
        width = tail_width if config.head_stride == 4 else width
        self.to_flow = nn.Conv2d(width, 2, 3, padding=1)
        nn.init.zeros_(self.to_flow.weight)
        nn.init.zeros_(self.to_flow.bias)
        self.to_weights = nn.Conv2d(width, k, 3, padding=1)
        nn.init.zeros_(self.to_weights.weight)
        with torch.no_grad():
            self.to_weights.bias.zero_()
            self.to_weights.bias[0] = _NEUTRAL_LOGIT
        self.textures = nn.Parameter(torch.full((k, 3, s, s), 0.5))

    @torch.no_grad()
    def set_textures(self, crops: np.ndarray) -> None:
        """Initialise the K exemplar textures from uint8 (K, S, S, 3) BGR crops (exemplar 0 is
        the neutral one the decoder starts from)."""
        k, s = self.config.exemplars, self.config.size
        if crops.shape != (k, s, s, 3):
            raise ValueError(f"exemplar crops must be ({k}, {s}, {s}, 3) BGR, got {crops.shape}")
        img = torch.from_numpy(np.ascontiguousarray(crops)).float().div(255.0)
        self.textures.copy_(img.permute(0, 3, 1, 2))

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) → the joined region features (B, C, S/8, S/8)."""
        half = self.config.code_size // 2
        w = self.lower_weight.to(z.dtype)
        return self.upper(z[:, :half]) * (1 - w) + self.lower(z[:, half:]) * w

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) → (B, 4, S, S) BGRA in [0, 1]."""
        s = self.config.size
        x = self.features(z)
        t = self.tail(x)
        h = t if self.config.head_stride == 4 else x
        # Coordinates and texture weights stay float32 in an fp16 decoder (an fp16 coordinate
        # is off by up to 0.1 px at 256²).
        flow = torch.tanh(self.to_flow(h)).float() * (2 * self.config.max_shift)
        flow = F.interpolate(flow, size=(s, s), mode="bilinear", align_corners=False)
        weights = torch.softmax(self.to_weights(h).float(), dim=1)
        weights = F.interpolate(weights, size=(s, s), mode="bilinear", align_corners=False)
        textures = self.textures.clamp(0, 1).float()
        mixed = (weights.unsqueeze(2) * textures.unsqueeze(0)).sum(dim=1)      # (B, 3, S, S)
        warped = sample_bilinear_batched(mixed, flow * (s / 2))
        out = self.to_out(t)
        out = F.interpolate(out, size=(s, s), mode="bilinear", align_corners=False)
        warped = warped.to(out.dtype)
        blend = torch.sigmoid(out[:, 4:5])
        bgr = blend * warped + (1 - blend) * torch.sigmoid(out[:, :3])
        return torch.cat([bgr, torch.sigmoid(out[:, 3:4])], dim=1)

    @torch.no_grad()
    def exemplar_weights(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) → (B, K, S/h, S/h) softmax weights, h = ``head_stride`` (inspection, tests)."""
        x = self.features(z)
        h = self.tail(x) if self.config.head_stride == 4 else x
        return torch.softmax(self.to_weights(h).float(), dim=1)


def sample_bilinear_batched(images: torch.Tensor, shift_px: torch.Tensor) -> torch.Tensor:
    """Sample each (B, C, S, S) image at every pixel + its (B, 2, S, S) shift (x, y, pixels),
    bilinearly, clamped to the border (``F.grid_sample(..., padding_mode="border",
    align_corners=False)``), as one gather from a table of each pixel's 2×2 neighbourhood —
    the ``latent.decoder`` trick, with the table built at run time because the image is."""
    b, c, s = images.shape[0], images.shape[1], images.shape[-1]
    right = torch.cat([images[:, :, :, 1:], images[:, :, :, -1:]], dim=3)
    down = torch.cat([images[:, :, 1:], images[:, :, -1:]], dim=2)
    down_right = torch.cat([down[:, :, :, 1:], down[:, :, :, -1:]], dim=3)
    table = torch.cat([images, right, down, down_right], dim=1)              # (B, 4C, S, S)
    table = table.reshape(b, 4 * c, s * s).permute(0, 2, 1).reshape(b * s * s, 4 * c)
    base = torch.arange(s, dtype=torch.float32, device=shift_px.device)
    x = (base.view(1, 1, s) + shift_px[:, 0]).clamp(0, s - 1)
    y = (base.view(1, s, 1) + shift_px[:, 1]).clamp(0, s - 1)
    x0, y0 = x.floor(), y.floor()
    wx, wy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
    offset = (torch.arange(b, device=shift_px.device) * (s * s)).view(b, 1, 1)
    index = (y0 * s + x0).long() + offset
    quad = table.index_select(0, index.reshape(-1)).reshape(b, s, s, 4 * c).permute(0, 3, 1, 2)
    top = quad[:, 0:c] * (1 - wx) + quad[:, c:2 * c] * wx
    bottom = quad[:, 2 * c:3 * c] * (1 - wx) + quad[:, 3 * c:] * wx
    return top * (1 - wy) + bottom * wy
