"""Face decoder: expression code z → the target's face crop with alpha.

Shapes: z (B, Z) float32 → (B, 4, S, S) float32 in [0, 1], channels **B, G, R, A** (OpenCV
colour order plus an alpha matte of the face region), in the alignment-crop frame of
``facekit.geometry.alignment_matrix`` at S = ``config.size``.

z → linear → (C0, 4, 4) → upsampling stages (nearest ×2, then ``convs_per_stage`` 3×3 convs with
LeakyReLU) up to S/2 → one 3×3 conv to 16 channels + pixel shuffle ×2 → (4, S, S) → sigmoid.
The last stage at full resolution is a pixel shuffle rather than a conv because a conv at S²
costs as much as all the others together, and the CPU preset must render 256² in ≤ 12 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DecoderConfig:
    code_size: int = 128                 # Z
    size: int = 256                      # S: output side, a power of two in 64..512
    channels: tuple[int, ...] = (256, 192, 128, 96, 64, 32, 24)  # C per stage, 4² upwards
    convs_per_stage: int = 1             # 3×3 convs after each upsampling


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
        self.to_bgra = nn.Sequential(nn.Conv2d(chans[stages], 16, 3, padding=1), nn.PixelShuffle(2))
        self._c0 = chans[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) → (B, 4, S, S) BGRA in [0, 1]."""
        x = nn.functional.leaky_relu(self.fc(z), 0.2).view(-1, self._c0, 4, 4)
        return torch.sigmoid(self.to_bgra(self.blocks(x)))
