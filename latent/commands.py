"""CLI commands of the latent model: ``train`` and ``explore`` (registered by latentcam.cli)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``explore`` to ``app``."""

    @app.command("train")
    def train_command(
        data_dir: Path = typer.Argument(..., help="Dataset folder from `latentcam prepare`."),
        out: Path = typer.Option(..., "--out", help="Target bundle folder to write (resumes if it holds a checkpoint)."),
        preset: str = typer.Option("cpu", "--preset", help="cpu (renders 256² in ≤12 ms on 2 CPU cores) or gpu (larger)."),
        steps: int = typer.Option(3000, "--steps", help="Training steps."),
        max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop after this much wall time (the LR schedule follows time)."),
        size: Optional[int] = typer.Option(None, "--size", help="Output resolution 64/128/256/512 (default 256)."),
        gan: bool = typer.Option(False, "--gan/--no-gan", help="Hinge GAN + feature-matching losses (off by default: see benchmarks/latent/ablation_single_face.md)."),
        vae: bool = typer.Option(False, "--vae/--no-vae", help="VAE code (KL; the mean is used live). Off by default: it did not change held-out quality (benchmarks/latent/ablation_single_face.md)."),
        factorized: bool = typer.Option(True, "--factorized/--no-factorized", help="Upper/lower-face encoder branches."),
        warp: bool = typer.Option(True, "--warp/--no-warp", help="Decoder warps a learned texture of the target (sharper; see benchmarks/latent/ablation_single_face.md)."),
        composed: bool = typer.Option(False, "--composed/--no-composed", help="Composed decoder: upper and lower face each drawn from its own half of the code, painted from exemplar crops of the target (latent/composed_decoder.py; benchmarks/latent/fidelity_wolfgang.md)."),
        lower_oval: bool = typer.Option(True, "--lower-oval/--no-lower-oval", help="The encoder's lower-face branch sees the jaw-line points (off: the mouth is read from lips and blendshapes only; benchmarks/latent/fidelity_wolfgang_*.md)."),
        region_mix: float = typer.Option(0.5, "--region-mix", help="Fraction of each batch built by region mixing."),
        frames: Optional[str] = typer.Option(None, "--frames", help="Train on dataset frames A:B only (e.g. 0:0.8)."),
        seed: int = typer.Option(0, "--seed"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Per process (default: the preset's)."),
        lr: Optional[float] = typer.Option(None, "--lr"),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        threads: int = typer.Option(2, "--threads", help="torch CPU threads per process."),
        nproc: int = typer.Option(1, "--nproc", help="Processes (DDP via torchrun; gloo on CPU, NCCL on GPUs)."),
        resume: bool = typer.Option(True, "--resume/--no-resume"),
        name: Optional[str] = typer.Option(None, "--name", help="Target name shown in the bundle."),
        licence: str = typer.Option("unspecified", "--licence", help="Licence of the training footage."),
        consent: str = typer.Option("unspecified", "--consent", help="Who consented to being the target, and how."),
    ) -> None:
        """Train a target model and write a target bundle (weights, ONNX, manifest)."""
        try:
            import torch  # noqa: F401
        except ImportError:
            typer.echo("training needs PyTorch: pip install 'latentcam[train]'", err=True)
            raise typer.Exit(2)
        argv = [str(data_dir), "--out", str(out), "--preset", preset, "--steps", str(steps),
                "--gan" if gan else "--no-gan", "--vae" if vae else "--no-vae",
                "--factorized" if factorized else "--no-factorized", "--warp" if warp else "--no-warp",
                "--composed" if composed else "--no-composed",
                "--lower-oval" if lower_oval else "--no-lower-oval",
                "--region-mix", str(region_mix),
                "--seed", str(seed), "--device", device, "--threads", str(threads),
                "--resume" if resume else "--no-resume", "--licence", licence, "--consent", consent]
        for flag, value in (("--max-minutes", max_minutes), ("--size", size), ("--frames", frames), ("--batch-size", batch_size),
                            ("--lr", lr), ("--name", name)):
            if value is not None:
                argv += [flag, str(value)]
        if nproc > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={nproc}", "-m", "latentcam.latent.train", *argv]
            raise typer.Exit(subprocess.run(cmd, env=os.environ.copy()).returncode)
        from .train import options_from_args, train
        from .training_data import DatasetError
        try:
            bundle = train(options_from_args(argv))
        except (DatasetError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        typer.echo(f"target bundle written to {bundle}")

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
        from .bundle import BundleError
        from .explore import ExploreOptions, explore
        try:
            p = tuple(int(x) for x in pair.split(",")) if pair else None
            if p is not None and len(p) != 2:
                raise ValueError("--pair takes two positions, e.g. 0,40")
            path = explore(target_dir, out, ExploreOptions(directions=directions, steps=steps,
                                                           span=span, pair=p))
        except (BundleError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        typer.echo(f"wrote {path}")
