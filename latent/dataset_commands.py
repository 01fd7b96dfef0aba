"""CLI commands of this subpackage (registered by latentcam.cli)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
