"""The ``latentcam`` command line. Each subpackage registers its own commands."""

from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from latentcam import __version__
from latentcam.facekit.errors import LatentcamError


def report_error(exc: LatentcamError) -> int:
    """Print a user-facing error (and its hint) without a traceback; return its exit code."""
    typer.echo(f"error: {exc}", err=True)
    if exc.hint:
        typer.echo(f"hint: {exc.hint}", err=True)
    return exc.exit_code


#: Options whose value may be left out, and the value they then take (typer has no optional
#: values): ``live --delay-audio`` is ``live --delay-audio @DEFAULT_SOURCE@`` (PulseAudio's name
#: for the default microphone).
OPTIONAL_VALUES = {"--delay-audio": "@DEFAULT_SOURCE@"}


def with_optional_values(args: list[str]) -> list[str]:
    """Give each option of ``OPTIONAL_VALUES`` that stands last or before another option its
    default value."""
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg in OPTIONAL_VALUES and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[arg])
    return out


class _Commands(TyperGroup):
    """Every command runs inside this one handler: a ``LatentcamError`` becomes ``error: …``
    (+ ``hint: …``) on stderr and its ``exit_code`` (2 bad input, 1 what the machine lacks);
    any other exception is a bug and keeps its traceback."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, with_optional_values(list(args)))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LatentcamError as exc:
            raise typer.Exit(report_error(exc)) from None


def build_app() -> typer.Typer:
    from latentcam.calibration import commands as calibration_commands
    from latentcam.engines import commands as engine_commands
    from latentcam.facekit import commands as facekit_commands
    from latentcam import doctor as doctor_commands
    from latentcam import eval_command, prepare_command
    from latentcam.latent import commands as latent_commands
    from latentcam.provenance import commands as provenance_commands
    from latentcam.realtime import commands as realtime_commands

    app = typer.Typer(
        name="latentcam",
        cls=_Commands,
        help="Real-time webcam face reenactment to a virtual camera.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback(invoke_without_command=True)
    def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")):
        if version:
            typer.echo(f"latentcam {__version__}")
            raise typer.Exit()

    for module in (facekit_commands, doctor_commands, prepare_command, latent_commands, eval_command,
                   engine_commands, calibration_commands, realtime_commands, provenance_commands):
        module.register(app)
    return app


def main() -> None:
    # MediaPipe's native logging floods stderr with INFO/WARNING lines; keep errors only.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # OpenCV logs its own probing failures (no camera at index 0 ...); latentcam reports them itself.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    build_app()()


if __name__ == "__main__":
    main()
