"""Networks with random weights that make every output depend on the input."""

from __future__ import annotations

import torch


def spread_init(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Variance-preserving random weights (Kaiming for LeakyReLU 0.2, small random biases), so
    that every output depends on the code; returns the module in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / (1.04 * fan_in)) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return module.eval()
