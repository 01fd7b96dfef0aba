"""Training losses. None needs a pretrained network (none can be downloaded here).

Images are (B, C, H, W) in [0, 1]; masks (B, 1, H, W) in [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


def masked_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
              ) -> torch.Tensor:
    """Mean absolute error, optionally weighted per pixel by ``weight`` (B, 1, H, W)."""
    err = (pred - target).abs()
    if weight is None:
        return err.mean()
    return (err * weight).sum() / (weight.sum() * pred.shape[1]).clamp_min(1e-6)


@lru_cache(maxsize=4)
def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur, per channel, 'same' size (two 1-D convs: 2k not k² taps)."""
    c, k = x.shape[1], g.numel()
    gx = g.view(1, 1, 1, k).expand(c, 1, 1, k)
    gy = g.view(1, 1, k, 1).expand(c, 1, k, 1)
    x = F.conv2d(x, gx, padding=(0, k // 2), groups=c)
    return F.conv2d(x, gy, padding=(k // 2, 0), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5
             ) -> torch.Tensor:
    """Per-pixel SSIM (B, C, H, W) of two [0, 1] images with a Gaussian window."""
    g = _gaussian_1d(window, sigma).to(a.device, a.dtype)
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    saa = _blur(a * a, g) - mu_a ** 2
    sbb = _blur(b * b, g) - mu_b ** 2
    sab = _blur(a * b, g) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
              ) -> torch.Tensor:
    """1 − SSIM, averaged (weighted by ``weight`` (B, 1, H, W) when given)."""
    m = ssim_map(pred, target)
    if weight is None:
        return 1.0 - m.mean()
    return 1.0 - (m * weight).sum() / (weight.sum() * m.shape[1]).clamp_min(1e-6)


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)) per sample, averaged over batch and code entries."""
    return 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar).mean()


def alpha_loss(alpha: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None
               ) -> torch.Tensor:
    """The rendered alpha (B, 1, H, W) should match the face mask: L1, optionally weighted per
    pixel by ``weight`` (B, 1, H, W) — 0 where an occluder hides what the mask should be."""
    err = (alpha - mask).abs()
    if weight is None:
        return err.mean()
    return (err * weight).sum() / weight.sum().clamp_min(1e-6)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def feature_matching_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]
                          ) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of real and rendered crops."""
    terms = [(f - r.detach()).abs().mean() for r, f in zip(real_feats[:-1], fake_feats[:-1])]
    return torch.stack(terms).mean()
