"""The ``latentcam`` command line. Each subpackage registers its own commands."""

from __future__ import annotations

import typer

from latentcam import __version__


def build_app() -> typer.Typer:
    from latentcam.calibration import commands as calibration_commands
    from latentcam.engines import commands as engine_commands
    from latentcam.facekit import commands as facekit_commands
    from latentcam.latent import commands as latent_commands
    from latentcam.realtime import commands as realtime_commands

    app = typer.Typer(
        name="latentcam",
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

    for module in (facekit_commands, latent_commands, engine_commands, calibration_commands,
                   realtime_commands):
        module.register(app)
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
