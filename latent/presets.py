"""Named size presets for the target model.

* ``cpu``: a 1.3 M-parameter decoder (1.5 M with the warp's texture) sized for a 256² render
  within the ≤ 10 ms budget with ONNX Runtime on 2 CPU threads, so a laptop without a GPU runs
  live. The composed decoder (``--composed``: 2.2 M parameters with its five exemplar textures)
  costs about as much as the warp at 256² and 1.5× at 512². Measured costs (and the machine's
  load when they were taken): ``benchmarks/latent/decoder_cost.md``. Weights ~5 MB, small enough
  to commit a default target.
* ``gpu``: an 11 M-parameter decoder with two convs per stage, for quality on a GPU engine;
  with ``--composed``, region trunks and a tail about twice as wide as the ``cpu`` preset's.

The encoder is the same small MLP in both (its cost is negligible next to the decoder's).

Training recipe for the ``gpu`` preset (one NVIDIA GPU; **not measured on a GPU yet** — no GPU
was available where this project is developed, so no quality or speed figure exists for it)::

    latentcam prepare target.mp4 --out data/anna
    latentcam train data/anna --out targets/anna-gpu --preset gpu --size 256 --device cuda \
        --max-minutes 30 --composed          # or --size 512; --nproc N for N GPUs (DDP, NCCL)
    latentcam eval targets/anna-gpu --video held_out.mp4
    latentcam build-engine targets/anna-gpu --engine torch     # or tensorrt / tensorrt-rtx

Batch 32 per process and learning rate 5e-4 come from the preset; the schedule follows
``--max-minutes``. A GPU step at 256² should take tens of milliseconds (an H200 runs the 13.5 M
decoder forward in ~1 ms, ``../shared/DESIGN.md``), so 30 minutes are tens of thousands of
steps — where ``--gan`` (off by default: it did not help at CPU budgets) may start to pay; judge
it with ``latentcam eval`` on held-out frames against the nearest-frame baseline, and with
``benchmarks/latent/fidelity.py --preset gpu`` side by side with the ``cpu`` preset.
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
                              convs_per_stage=2, region_channels=(384, 256, 192, 128),
                              tail_channels=(96,)),
        discriminator=DiscriminatorConfig(channels=(64, 128, 256, 512)),
        batch_size=32,
        learning_rate=5e-4,
    ),
}


def get_preset(name: str, *, size: int | None = None, vae: bool | None = None,
               factorized: bool | None = None, warp: bool | None = None,
               composed: bool | None = None, lower_oval: bool | None = None) -> Preset:
    """The named preset, with the output size / VAE head / factorised encoder / warping decoder
    / composed decoder (``latent.composed_decoder``) overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    enc, dec = p.encoder, p.decoder
    if vae is not None:
        enc = replace(enc, vae=vae)
    if factorized is not None:
        enc = replace(enc, factorized=factorized)
    if lower_oval is not None:
        enc = replace(enc, lower_oval=lower_oval)
    if warp is not None:
        dec = replace(dec, warp=warp)
    if composed is not None:
        dec = replace(dec, design="composed" if composed else "single")
    if size is not None:
        if size not in (64, 128, 256, 512):
            raise ValueError(f"size must be 64, 128, 256 or 512, got {size}")
        dec = replace(dec, size=size)
    return replace(p, encoder=enc, decoder=dec)
