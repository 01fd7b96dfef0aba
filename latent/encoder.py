"""Expression encoder: feature vector (``latent.features``) → expression code z.

Shapes: features (B, F) float32 → mean (B, Z), log-variance (B, Z) (zeros without a VAE head).
The live path uses the mean only (``forward``), exported to ONNX as ``encoder.onnx``.

With ``factorized=True`` the code is built from two branches that each see one face region
(``FeatureLayout``): the first ``Z/2`` entries from the upper face (eyes, brows) plus the shared
entries (nose, pose), the rest from the lower face (mouth, jaw) plus the shared entries. An eye
movement then cannot change the mouth's half of the code, which keeps unseen *combinations*
(eyes closed while laughing) composable — and lets region mixing build consistent training pairs.

Inputs are standardised inside the network with statistics of the training set (buffers, so
they travel in the weights and the ONNX graph); each feature's scale is floored at its block's
median scale, so a feature nearly constant in training cannot blow up when it moves live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .features import FEATURE_SIZE, feature_layout


@dataclass(frozen=True)
class EncoderConfig:
    feature_size: int = FEATURE_SIZE  # F, see latent.features
    code_size: int = 128              # Z
    hidden: int = 256                 # width of each hidden layer (per branch)
    layers: int = 3                   # hidden layers per branch
    vae: bool = True                  # add a log-variance head (KL-regularised code)
    factorized: bool = True           # upper/lower face branches (see module docstring)
    lower_oval: bool = True           # the lower branch sees the jaw-line (face-oval) points


def _oval_columns() -> np.ndarray:
    """Feature columns of the face-oval (jaw line, cheeks, forehead outline) points. Without
    them the lower branch reads the mouth from the lips and the mouth/jaw blendshapes only: the
    jaw line also moves with head pitch and with a hand under the chin, which can make a laugh
    look like a training frame's cry (``benchmarks/latent/fidelity_wolfgang_*.md``)."""
    from latentcam.facekit import landmarks as lm

    oval = set(lm.FACE_OVAL)
    return np.array([3 * k + j for k, idx in enumerate(lm.EXPRESSIVE) if idx in oval
                     for j in range(3)], dtype=np.int64)


def _mlp(inp: int, hidden: int, layers: int, out: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    mods.append(nn.Linear(width, out))
    return nn.Sequential(*mods)


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        f, z = config.feature_size, config.code_size
        heads = 2 if config.vae else 1
        self.register_buffer("feature_mean", torch.zeros(f))
        self.register_buffer("feature_scale", torch.ones(f))
        if config.factorized:
            if z % 2:
                raise ValueError(f"a factorized encoder needs an even code_size, got {z}")
            layout = feature_layout()
            upper = np.sort(np.concatenate([layout.upper, layout.shared]))
            lower = np.sort(np.concatenate([layout.lower, layout.shared]))
            if not config.lower_oval:
                lower = np.setdiff1d(lower, _oval_columns())
            self.register_buffer("upper_index", torch.as_tensor(upper, dtype=torch.long))
            self.register_buffer("lower_index", torch.as_tensor(lower, dtype=torch.long))
            self.upper = _mlp(len(upper), config.hidden, config.layers, heads * z // 2)
            self.lower = _mlp(len(lower), config.hidden, config.layers, heads * z // 2)
        else:
            self.net = _mlp(f, config.hidden, config.layers, heads * z)

    @torch.no_grad()
    def set_feature_statistics(self, features: np.ndarray) -> None:
        """Fit the input standardisation on the (N, F) training features."""
        from .features import feature_layout as _layout
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        nb = 3 * ((FEATURE_SIZE - 55) // 3)  # end of the point block
        blocks = [np.arange(0, nb), np.arange(nb, nb + 52), np.arange(nb + 52, FEATURE_SIZE)]
        _layout()  # (validates the layout is buildable)
        for block in blocks:
            floor = max(float(np.median(std[block])), 1e-3)
            std[block] = np.maximum(std[block], floor)
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_scale.copy_(torch.as_tensor(std, dtype=torch.float32))

    def encode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, F) → mean (B, Z), logvar (B, Z)."""
        x = (features - self.feature_mean) / self.feature_scale
        z = self.config.code_size
        if self.config.factorized:
            a = self.upper(x.index_select(1, self.upper_index))
            b = self.lower(x.index_select(1, self.lower_index))
            half = z // 2
            mean = torch.cat([a[:, :half], b[:, :half]], dim=1)
            logvar = (torch.cat([a[:, half:], b[:, half:]], dim=1) if self.config.vae
                      else torch.zeros_like(mean))
        else:
            out = self.net(x)
            mean = out[:, :z]
            logvar = out[:, z:] if self.config.vae else torch.zeros_like(mean)
        return mean, logvar.clamp(-10.0, 6.0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) → code z (B, Z): the mean, as used live."""
        return self.encode(features)[0]
