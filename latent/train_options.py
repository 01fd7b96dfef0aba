"""Training options, declared once: the ``TrainOptions`` dataclass.

``latentcam train`` (typer) and ``python -m latentcam.latent.train`` (argparse, what ``torchrun``
runs) are both generated from its fields: a field is a flag named after it (``--region-mix``),
booleans are ``--x/--no-x``, and ``CLI_HELP`` holds the help text. A new field is a new flag
in both. No torch here: the CLI imports this module to build its ``--help``.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainOptions:
    data_dir: Path
    out_dir: Path
    preset: str = "cpu"
    steps: int = 3000
    max_minutes: float | None = None  # stop after this wall time (LR schedule follows time)
    size: int | None = None           # output resolution; None → the preset's (256)
    gan: bool = False                 # hinge GAN + feature matching (off: ablation_single_face.md)
    vae: bool = False                 # KL-regularised code, mean used live (off: ablation)
    factorized: bool = True           # upper/lower-face encoder branches
    warp: bool = True                 # decoder warps a texture of the target (latent.decoder)
    composed: bool = False            # region trunks + exemplar textures (latent.composed_decoder)
    lower_oval: bool = True           # encoder's lower branch sees the jaw-line points
    seed: int = 0
    batch_size: int | None = None     # per process; None → the preset's
    learning_rate: float | None = None
    frames: str | None = None         # train on this range of dataset frames ("0:0.8")
    region_mix: float = 0.5           # fraction of each batch built by region mixing
    jitter_cm: float = 0.05           # std of per-landmark noise on the input points (cm)
    rigid_jitter: float = 0.01        # std of rigid input jitter (rad / relative scale / cm)
    w_l1: float = 1.0
    w_ssim: float = 1.0
    w_alpha: float = 0.5
    w_kl: float = 1e-3
    w_gan: float = 0.05
    w_fm: float = 1.0
    gan_start: float = 0.3            # GAN losses switch on after this fraction of the steps
    sample_every: int = 250
    checkpoint_every: int = 500
    resume: bool = True
    threads: int = 2                  # torch CPU threads per process
    device: str = "auto"              # auto | cpu | cuda
    name: str | None = None           # target name in the bundle (default: the output dir's)
    licence: str = "unspecified"      # licence of the training footage
    consent: str = "unspecified"      # who consented to being a target, how
    progress: bool = True
    sign_cert: Path | None = None     # signs the bundle (None: the local signing identity)
    sign_key: Path | None = None


#: Help text of each command-line option (fields absent here are still flags, with no help).
CLI_HELP: dict[str, str] = {
    "data_dir": "Dataset folder from `latentcam prepare`.",
    "out_dir": "Target bundle folder to write (resumes if it holds a checkpoint).",
    "preset": "cpu (sized for 256² in ≤ 10 ms on 2 CPU cores; benchmarks/latent/decoder_cost.md) or gpu (larger).",
    "steps": "Training steps.",
    "max_minutes": "Stop after this much wall time (the LR schedule follows time).",
    "size": "Output resolution 64/128/256/512 (default 256).",
    "gan": "Hinge GAN + feature-matching losses (off by default: see benchmarks/latent/ablation_single_face.md).",
    "vae": "VAE code (KL; the mean is used live). Off by default: it did not change held-out quality "
           "(benchmarks/latent/ablation_single_face.md).",
    "factorized": "Upper/lower-face encoder branches.",
    "warp": "Decoder warps a learned texture of the target (sharper; see benchmarks/latent/ablation_single_face.md).",
    "composed": "Composed decoder: upper and lower face each drawn from its own half of the code, "
                "painted from exemplar crops of the target (latent/composed_decoder.py; "
                "benchmarks/latent/fidelity_wolfgang.md).",
    "lower_oval": "The encoder's lower-face branch sees the jaw-line points (off: the mouth is read "
                  "from lips and blendshapes only; benchmarks/latent/fidelity_wolfgang_*.md).",
    "seed": "Random seed.",
    "batch_size": "Per process (default: the preset's).",
    "learning_rate": "Learning rate (default: the preset's).",
    "frames": "Train on dataset frames A:B only (e.g. 0:0.8).",
    "region_mix": "Fraction of each batch built by region mixing.",
    "jitter_cm": "Std of per-landmark noise on the input points (cm).",
    "rigid_jitter": "Std of rigid input jitter (rad / relative scale / cm).",
    "w_l1": "Weight of the L1 loss.",
    "w_ssim": "Weight of the SSIM loss.",
    "w_alpha": "Weight of the mask (alpha) loss.",
    "w_kl": "Weight of the KL loss (--vae).",
    "w_gan": "Weight of the GAN loss (--gan).",
    "w_fm": "Weight of the feature-matching loss (--gan).",
    "gan_start": "GAN losses switch on after this fraction of the steps.",
    "sample_every": "Write sample renders every N steps.",
    "checkpoint_every": "Checkpoint every N steps.",
    "resume": "Resume from a checkpoint in the output folder.",
    "threads": "torch CPU threads per process.",
    "device": "auto, cpu or cuda.",
    "name": "Target name shown in the bundle.",
    "licence": "Licence of the training footage.",
    "consent": "Who consented to being the target, and how.",
    "progress": "Show a progress bar.",
    "sign_cert": "Certificate chain (PEM, signing certificate first) that signs the bundle.",
    "sign_key": "Its private key (PEM). Without both: the local signing identity (not a trusted issuer).",
}
#: Flags whose name is not the field's.
FLAG_NAMES = {"out_dir": "--out", "learning_rate": "--lr"}
#: Positional arguments.
ARGUMENTS = ("data_dir",)


@dataclass(frozen=True)
class CliOption:
    """One command-line option generated from a ``TrainOptions`` field."""

    field: str
    flag: str                 # "--region-mix" (argument: the field name)
    type: type                # int, float, str, bool or Path (Optional removed)
    default: Any              # MISSING for required ones
    optional: bool            # None is allowed (and the default)
    help: str
    positional: bool = False

    @property
    def required(self) -> bool:
        return self.default is MISSING


def cli_options() -> list[CliOption]:
    """Every field of ``TrainOptions`` as a command-line option, in declaration order."""
    hints = typing.get_type_hints(TrainOptions)
    out = []
    for f in fields(TrainOptions):
        kind, optional = hints[f.name], False
        args = typing.get_args(kind)
        if type(None) in args:
            optional = True
            kind = next(a for a in args if a is not type(None))
        flag = FLAG_NAMES.get(f.name, "--" + f.name.replace("_", "-"))
        positional = f.name in ARGUMENTS
        out.append(CliOption(f.name, f.name if positional else flag, kind, f.default, optional,
                             CLI_HELP.get(f.name, ""), positional))
    return out


def to_argv(values: dict[str, Any]) -> list[str]:
    """Command-line arguments that ``options_from_args`` turns back into these field values
    (fields left out or None keep their defaults)."""
    argv: list[str] = []
    for opt in cli_options():
        value = values.get(opt.field)
        if value is None:
            continue
        if opt.positional:
            argv.insert(0, str(value))
        elif opt.type is bool:
            argv.append(opt.flag if value else "--no-" + opt.flag[2:])
        else:
            argv += [opt.flag, str(value)]
    return argv


def options_from_args(argv: list[str] | None = None) -> TrainOptions:
    """Parse ``latentcam train``'s flags (used under ``torchrun``: ``python -m latentcam.latent.train``)."""
    from . import train as train_module

    p = argparse.ArgumentParser(prog="python -m latentcam.latent.train", description=train_module.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for opt in cli_options():
        if opt.positional:
            p.add_argument(opt.field, type=opt.type, help=opt.help)
        elif opt.type is bool:
            p.add_argument(opt.flag, dest=opt.field, action=argparse.BooleanOptionalAction,
                           default=opt.default, help=opt.help)
        else:
            choices = ("auto", "cpu", "cuda") if opt.field == "device" else None
            p.add_argument(opt.flag, dest=opt.field, type=opt.type, required=opt.required,
                           default=None if opt.required else opt.default, choices=choices, help=opt.help)
    return TrainOptions(**vars(p.parse_args(argv)))


__all__ = ["CLI_HELP", "CliOption", "TrainOptions", "cli_options", "options_from_args", "to_argv"]
