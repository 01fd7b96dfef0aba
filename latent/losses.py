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
def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5
             ) -> torch.Tensor:
    """Per-pixel SSIM (B, C, H, W) of two [0, 1] images with a Gaussian window."""
    c = a.shape[1]
    w = _gaussian_window(window, sigma).to(a.device, a.dtype).expand(c, 1, window, window)
    pad = window // 2
    mu_a = F.conv2d(a, w, padding=pad, groups=c)
    mu_b = F.conv2d(b, w, padding=pad, groups=c)
    saa = F.conv2d(a * a, w, padding=pad, groups=c) - mu_a ** 2
    sbb = F.conv2d(b * b, w, padding=pad, groups=c) - mu_b ** 2
    sab = F.conv2d(a * b, w, padding=pad, groups=c) - mu_a * mu_b
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


def alpha_loss(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The rendered alpha (B, 1, H, W) should match the face mask: L1."""
    return (alpha - mask).abs().mean()


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def feature_matching_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]
                          ) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of real and rendered crops."""
    terms = [(f - r.detach()).abs().mean() for r, f in zip(real_feats[:-1], fake_feats[:-1])]
    return torch.stack(terms).mean()
