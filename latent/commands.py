"""CLI commands of the latent model: ``train`` and ``explore`` (registered by latentcam.cli)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from latentcam.facekit.errors import LatentcamError, options_checked


def _train_command():
    """``latentcam train``, its options generated from ``TrainOptions`` (declared once, in
    ``latent.train_options``) plus ``--nproc``."""
    import inspect
    from typing import Optional as Opt

    from .train_options import TrainOptions, cli_options, to_argv

    def train_command(**values) -> None:
        """Train a target model and write a target bundle (weights, ONNX, manifest)."""
        nproc = values.pop("nproc")
        try:
            import torch  # noqa: F401
        except ImportError:
            raise LatentcamError("training needs PyTorch", hint="pip install 'latentcam[train]'") from None
        if nproc > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={nproc}", "-m", "latentcam.latent.train", *to_argv(values)]
            raise typer.Exit(subprocess.run(cmd, env=os.environ.copy()).returncode)
        from .train import train
        with options_checked():
            bundle = train(TrainOptions(**values))
        typer.echo(f"target bundle written to {bundle}")

    params, annotations = [], {}
    for opt in cli_options():
        kind = Opt[opt.type] if opt.optional else opt.type
        if opt.positional:
            default = typer.Argument(..., metavar=opt.field.upper(), help=opt.help)
        elif opt.type is bool:
            default = typer.Option(opt.default, f"{opt.flag}/--no-{opt.flag[2:]}", help=opt.help)
        else:
            default = typer.Option(... if opt.required else opt.default, opt.flag, help=opt.help)
        params.append(inspect.Parameter(opt.field, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=kind))
        annotations[opt.field] = kind
    params.append(inspect.Parameter("nproc", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                                    default=typer.Option(1, "--nproc", help="Processes (DDP via torchrun; "
                                                         "gloo on CPU, NCCL on GPUs).")))
    annotations["nproc"] = int
    train_command.__signature__ = inspect.Signature(params, return_annotation=None)
    train_command.__annotations__ = {**annotations, "return": None}
    return train_command


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``explore`` to ``app``."""

    app.command("train")(_train_command())

    @app.command("explore")
    def explore_command(
        target_dir: Path = typer.Argument(..., help="Target bundle folder."),
        out: Path = typer.Option(Path("explore.png"), "--out", help="PNG to write."),
        directions: int = typer.Option(6, "--directions", help="Principal directions (rows)."),
        steps: int = typer.Option(7, "--steps", help="Renders per row."),
        span: float = typer.Option(2.5, "--span", help="± standard deviations along each direction."),
        pair: Optional[str] = typer.Option(None, "--pair", help="Two training-frame positions A,B to interpolate."),
    ) -> None:
        """Render a grid along the main directions of the code space + an interpolation strip."""
        from .explore import ExploreOptions, explore
        with options_checked():
            p = tuple(int(x) for x in pair.split(",")) if pair else None
            if p is not None and len(p) != 2:
                raise ValueError("--pair takes two positions, e.g. 0,40")
            path = explore(target_dir, out, ExploreOptions(directions=directions, steps=steps,
                                                           span=span, pair=p))
        typer.echo(f"wrote {path}")
