"""Face decoder: expression code z → the target's face crop with alpha.

Shapes: z (B, Z) float32 → (B, 4, S, S) float32 in [0, 1], channels **B, G, R, A** (OpenCV
colour order plus an alpha matte of the face region), in the alignment-crop frame of
``facekit.geometry.alignment_matrix`` at S = ``config.size``.

z → linear → (C0, 4, 4) → upsampling stages (nearest ×2, then ``convs_per_stage`` 3×3 convs with
LeakyReLU) up to S/2 → one 3×3 conv + pixel shuffle ×2 → full resolution → sigmoid.
The last stage at full resolution is a pixel shuffle rather than a conv because a conv at S²
costs as much as all the others together, and the CPU preset must render 256² in ≤ 12 ms.

With ``warp=True`` (the training default) the decoder also holds a *texture*: a (3, S, S) image
of the target, initialised from its most neutral training crop and refined in training. From the
features at S/8 the decoder predicts a smooth displacement field (2 channels, bilinearly
upsampled to S), and at full resolution a blend weight; the colour is

    blend · texture warped by the field + (1 − blend) · the generated colour.

Skin, eyes and hair keep the texture's detail, moved into the expression, while the generated
branch paints what a warp cannot make (teeth, a closed eye over an open one). A plain conv decoder
trained for minutes on a CPU renders blurry faces that lose to copying the nearest training
frame; the warp keeps them sharp (``benchmarks/latent/ablation_single_face_400steps.md``). The
field is zero-initialised and the blend starts near one half: training begins from "texture in
place, half blended".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class DecoderConfig:
    code_size: int = 128                 # Z
    size: int = 256                      # S: output side, a power of two in 64..512
    channels: tuple[int, ...] = (256, 192, 128, 96, 64, 32, 24)  # C per stage, 4² upwards
    convs_per_stage: int = 1             # 3×3 convs after each upsampling
    warp: bool = False                   # texture + displacement field (module docstring)
    max_shift: float = 0.25              # largest displacement, in units of the crop side
    # "single": this module's decoder (plain, or warping with ``warp``); "composed": region
    # trunks + exemplar textures (``latent.composed_decoder``; the fields below are its own).
    design: str = "single"
    exemplars: int = 5                   # K exemplar textures (composed)
    region_channels: tuple[int, ...] = (192, 128, 96, 64)   # per-region trunk, 4² → S/8
    tail_channels: tuple[int, ...] = (48,)                   # shared tail at S/4
    region_band: float = 0.15            # width of the upper/lower join, fraction of the side
    head_stride: int = 4                 # field + exemplar weights predicted at S/4 (or S/8)


def build_decoder(config: DecoderConfig) -> nn.Module:
    """The decoder ``config.design`` names (both map z (B, Z) → (B, 4, S, S) BGRA)."""
    if config.design == "single":
        return Decoder(config)
    if config.design == "composed":
        from .composed_decoder import ComposedDecoder
        return ComposedDecoder(config)
    raise ValueError(f"unknown decoder design {config.design!r}; use 'single' or 'composed'")


class Decoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        s = config.size
        if s < 16 or s & (s - 1):
            raise ValueError(f"decoder size must be a power of two ≥ 16, got {s}")
        stages = int(math.log2(s // 2)) - 2        # 4 → S/2
        chans = list(config.channels)
        if len(chans) < stages + 1:
            chans += [chans[-1]] * (stages + 1 - len(chans))
        self.fc = nn.Linear(config.code_size, chans[0] * 16)
        blocks: list[nn.Module] = []
        for i in range(stages):
            mods: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")]
            width = chans[i]
            for _ in range(config.convs_per_stage):
                mods += [nn.Conv2d(width, chans[i + 1], 3, padding=1), nn.LeakyReLU(0.2)]
                width = chans[i + 1]
            blocks.append(nn.Sequential(*mods))
        self.blocks = nn.Sequential(*blocks)
        out_channels = 5 if config.warp else 4     # BGRA (+ blend logit)
        self.to_bgra = nn.Sequential(nn.Conv2d(chans[stages], 4 * out_channels, 3, padding=1),
                                     nn.PixelShuffle(2))
        self._c0 = chans[0]
        if config.warp:
            # Block k outputs 2^(k+3) px: S/8 is block log2(S) - 6 (the first block for S = 64).
            self._flow_block = max(0, int(math.log2(s)) - 6)
            self.to_flow = nn.Conv2d(chans[self._flow_block + 1], 2, 3, padding=1)
            nn.init.zeros_(self.to_flow.weight)
            nn.init.zeros_(self.to_flow.bias)
            self.texture = nn.Parameter(torch.full((1, 3, s, s), 0.5))

    @torch.no_grad()
    def set_texture(self, bgr: np.ndarray) -> None:
        """Initialise the texture from a uint8 (S, S, 3) BGR crop of the target."""
        s = self.config.size
        if bgr.shape != (s, s, 3):
            raise ValueError(f"texture must be ({s}, {s}, 3) BGR, got {bgr.shape}")
        img = torch.from_numpy(np.ascontiguousarray(bgr)).float().div(255.0)
        self.texture.copy_(img.permute(2, 0, 1)[None])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) → (B, 4, S, S) BGRA in [0, 1]."""
        x = F.leaky_relu(self.fc(z), 0.2).view(-1, self._c0, 4, 4)
        if not self.config.warp:
            return torch.sigmoid(self.to_bgra(self.blocks(x)))
        flow = None
        for k, block in enumerate(self.blocks):
            x = block(x)
            if k == self._flow_block:
                flow = torch.tanh(self.to_flow(x)) * (2 * self.config.max_shift)
        out = self.to_bgra(x)
        s = self.config.size
        # Coordinates stay float32 even in an fp16 decoder: an fp16 coordinate is off by up to
        # 0.1 px at 256², which the texture's edges turn into visible errors.
        flow = F.interpolate(flow.float(), size=(s, s), mode="bilinear", align_corners=False)
        warped = _sample_bilinear(self.texture.clamp(0, 1).float()[0], flow * (s / 2))
        warped = warped.to(out.dtype)
        blend = torch.sigmoid(out[:, 4:5])
        bgr = blend * warped + (1 - blend) * torch.sigmoid(out[:, :3])
        return torch.cat([bgr, torch.sigmoid(out[:, 3:4])], dim=1)


def _sample_bilinear(texture: torch.Tensor, shift_px: torch.Tensor) -> torch.Tensor:
    """Sample a (C, S, S) texture at every pixel + its (B, 2, S, S) shift (x, y, in pixels),
    bilinearly, clamping to the border — ``F.grid_sample(..., padding_mode="border",
    align_corners=False)`` — as *one* gather from a table holding each texel's 2×2
    neighbourhood. ONNX Runtime's GridSample takes 3.4 ms at 256² on 2 CPU cores, four separate
    gathers 2.4 ms; this takes 1 ms. Exported, the table is a constant of 4·C·S² values."""
    c, s = texture.shape[0], texture.shape[-1]
    b = shift_px.shape[0]
    right = torch.cat([texture[:, :, 1:], texture[:, :, -1:]], dim=2)
    down = torch.cat([texture[:, 1:], texture[:, -1:]], dim=1)
    down_right = torch.cat([down[:, :, 1:], down[:, :, -1:]], dim=2)
    table = torch.cat([texture, right, down, down_right], dim=0).reshape(4 * c, s * s).t()
    base = torch.arange(s, dtype=torch.float32, device=shift_px.device)
    x = (base.view(1, 1, s) + shift_px[:, 0]).clamp(0, s - 1)
    y = (base.view(1, s, 1) + shift_px[:, 1]).clamp(0, s - 1)
    x0, y0 = x.floor(), y.floor()
    wx, wy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
    quad = table.index_select(0, (y0 * s + x0).long().reshape(-1))
    quad = quad.reshape(b, s, s, 4 * c).permute(0, 3, 1, 2)
    top = quad[:, 0:c] * (1 - wx) + quad[:, c:2 * c] * wx
    bottom = quad[:, 2 * c:3 * c] * (1 - wx) + quad[:, 3 * c:] * wx
    return top * (1 - wy) + bottom * wy
