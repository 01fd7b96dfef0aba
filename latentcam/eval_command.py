"""``latentcam eval``: score a target bundle on a clip (self-reenactment or cross-identity).

It lives in the top-level app layer, not in ``latent/``, because cross-identity evaluation may
drive the model through calibration's retargeting, and ``latent`` must not import calibration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def calibrated_driver(bundle_dir: Path, profile: Path | None, fps: float = 30.0, options=None):
    """A driver callable that retargets each observation onto the target exactly as ``live``
    does (``realtime.target.make_retargeter``: a saved profile, or self-calibration when
    ``profile`` is None; ``options``: ``RetargetOptions``, default ones when None). While the
    retargeter has no reference yet it yields the target's neutral face. The retargeter is
    exposed as ``driver.retargeter``."""
    from latentcam.calibration import RetargetOptions
    from latentcam.realtime.target import load_live_target, make_retargeter

    target = load_live_target(bundle_dir)
    retargeter = make_retargeter(target, profile, options if options is not None else RetargetOptions())
    geometry = retargeter.target
    neutral = (geometry.neutral_points, geometry.neutral_blendshapes, geometry.neutral_pose)
    clock = {"t": 0.0}

    def driver(face):
        clock["t"] += 1.0 / fps
        r = retargeter.process(face, clock["t"])
        if r is None:
            return neutral
        return r.points, r.blendshapes, r.pose

    driver.retargeter = retargeter
    return driver


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""

    @app.command("eval")
    def eval_command(
        target_dir: Path = typer.Argument(..., help="Target bundle folder."),
        video: Path = typer.Option(..., "--video", help="Clip that drives the target."),
        frames: Optional[str] = typer.Option(None, "--frames", help="Clip frames A:B (e.g. 58:72)."),
        mode: str = typer.Option("self", "--mode", help="self (the target's own, unseen frames) or cross (another person)."),
        out: Path = typer.Option(Path("eval_out"), "--out", help="Folder for report.json, report.md, side_by_side.png."),
        train_data: Optional[Path] = typer.Option(None, "--train-data", help="Self mode: the training dataset (baselines); default: the bundle's provenance."),
        train_frames: Optional[str] = typer.Option(None, "--train-frames", help="Its trained frames A:B (default: from the bundle)."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Cross mode: drive through this calibration profile."),
        self_calibrate: bool = typer.Option(False, "--self-calibrate", help="Cross mode: retarget with self-calibration (no profile)."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames"),
    ) -> None:
        """Evaluate a target: image metrics, re-tracked expression accuracy, jitter, baselines."""
        from latentcam.facekit.errors import InputError, options_checked
        from latentcam.latent.evaluate import EvalOptions, evaluate_cross, evaluate_self, raw_driver

        if mode not in ("self", "cross"):
            raise InputError(f"--mode must be self or cross, got {mode!r}")
        if profile and self_calibrate:
            raise InputError("use either --profile or --self-calibrate, not both")
        opts = EvalOptions(frames=frames, out_dir=out, train_data=train_data,
                           train_frames=train_frames, max_frames=max_frames)
        with options_checked():
            driver = (calibrated_driver(target_dir, profile) if (profile or self_calibrate)
                      else raw_driver)
            run = evaluate_self if mode == "self" else evaluate_cross
            run(target_dir, video, opts, driver)
        typer.echo((out / "report.md").read_text())
        where = out.resolve()
        typer.echo(f"wrote {where / 'report.json'}, {where / 'report.md'} and "
                   f"{where / 'side_by_side.png'} (in {where})")
