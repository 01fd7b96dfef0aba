"""Named size presets for the target model.

* ``cpu``: a 1.3 M-parameter decoder that renders 256² in ~7.5 ms with ONNX Runtime on 2 CPU
  threads, 9.7 ms with the warp (the budget is ≤ 12 ms; ``benchmarks/latent/decoder_cost.md``),
  so a laptop without a GPU runs live. Weights ~5 MB, small enough to commit a default target.
* ``gpu``: an 11 M-parameter decoder with two convs per stage, for quality on a GPU engine.

The encoder is the same small MLP in both (its cost is negligible next to the decoder's).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .decoder import DecoderConfig
from .discriminator import DiscriminatorConfig
from .encoder import EncoderConfig


@dataclass(frozen=True)
class Preset:
    name: str
    encoder: EncoderConfig
    decoder: DecoderConfig
    discriminator: DiscriminatorConfig
    batch_size: int     # per process
    learning_rate: float


PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        name="cpu",
        encoder=EncoderConfig(code_size=128, hidden=256, layers=3),
        decoder=DecoderConfig(code_size=128, size=256, channels=(256, 192, 128, 64, 48, 32, 16),
                              convs_per_stage=1),
        discriminator=DiscriminatorConfig(channels=(32, 64, 128, 128)),
        batch_size=16,
        learning_rate=1e-3,
    ),
    "gpu": Preset(
        name="gpu",
        encoder=EncoderConfig(code_size=128, hidden=512, layers=3),
        decoder=DecoderConfig(code_size=128, size=256, channels=(512, 512, 384, 256, 128, 96, 64),
                              convs_per_stage=2),
        discriminator=DiscriminatorConfig(channels=(64, 128, 256, 512)),
        batch_size=32,
        learning_rate=5e-4,
    ),
}


def get_preset(name: str, *, size: int | None = None, vae: bool | None = None,
               factorized: bool | None = None, warp: bool | None = None) -> Preset:
    """The named preset, with the output size / VAE head / factorised encoder / warping decoder
    overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    enc, dec = p.encoder, p.decoder
    if vae is not None:
        enc = replace(enc, vae=vae)
    if factorized is not None:
        enc = replace(enc, factorized=factorized)
    if warp is not None:
        dec = replace(dec, warp=warp)
    if size is not None:
        if size not in (64, 128, 256, 512):
            raise ValueError(f"size must be 64, 128, 256 or 512, got {size}")
        dec = replace(dec, size=size)
    return replace(p, encoder=enc, decoder=dec)
