"""Patch discriminator: is this face crop real or rendered?

Shapes: (B, 3, S, S) BGR in [0, 1] → list of feature maps, the last one (B, 1, S/2^k, S/2^k)
the per-patch realness logits. The intermediate maps serve the feature-matching loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: tuple[int, ...] = (32, 64, 128, 256)  # stride-2 4×4 convs
    in_channels: int = 3


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.in_channels
        for c in config.channels:
            layers.append(nn.Sequential(
                nn.utils.parametrizations.spectral_norm(nn.Conv2d(width, c, 4, stride=2, padding=1)),
                nn.LeakyReLU(0.2)))
            width = c
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.layers = nn.ModuleList(layers)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) in [0, 1] → feature maps; ``[-1]`` are the patch logits."""
        x = image * 2.0 - 1.0
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats
