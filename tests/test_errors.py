"""One error root: every user-facing error derives from ``LatentcamError`` and the CLI turns it
into ``error: …`` (+ ``hint: …``) and an exit code in one place, without a traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from latentcam.cli import build_app
from latentcam.facekit.errors import InputError, LatentcamError

REPO = Path(__file__).resolve().parent.parent
# Every package folder at the top level (a new subpackage is covered without editing this test).
PACKAGES = tuple(sorted(p.name for p in REPO.iterdir()
                        if (p / "__init__.py").is_file() and p.name != "tests"))


def _error_classes() -> list[tuple[str, str]]:
    """(module path, class name) of every class named *Error / *Failed / *Unavailable / *Refused."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and node.name.endswith(
                        ("Error", "Failed", "Unavailable", "Refused")):
                    found.append((str(path.relative_to(REPO)), node.name))
    return found


def test_every_error_class_derives_from_the_one_root():
    import importlib

    assert {"facekit", "latent", "engines", "calibration", "realtime", "latentcam"} <= set(PACKAGES)
    classes = _error_classes()
    assert len(classes) >= 15
    for path, name in classes:
        parts = Path(path).with_suffix("").parts
        module = ".".join(["latentcam", *parts[1:]] if parts[0] == "latentcam" else ["latentcam", *parts])
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, LatentcamError), f"{path}: {name} does not derive from LatentcamError"


def test_each_error_is_defined_once():
    names = [name for _, name in _error_classes()]
    assert sorted(names) == sorted(set(names)), "an error class is defined in two modules"


def _app_raising(exc: Exception) -> typer.Typer:
    app = build_app()

    @app.command("boom")
    def boom() -> None:
        raise exc

    return app


def test_cli_prints_message_and_hint_with_the_exit_code():
    res = CliRunner().invoke(_app_raising(LatentcamError("no camera", hint="plug one in")), ["boom"])
    assert res.exit_code == 1 and "error: no camera" in res.output and "hint: plug one in" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    res = CliRunner().invoke(_app_raising(InputError("--fps must be > 0")), ["boom"])
    assert res.exit_code == 2 and "error: --fps must be > 0" in res.output and "hint" not in res.output


def test_cli_keeps_the_traceback_of_a_bug():
    res = CliRunner().invoke(_app_raising(KeyError("bug")), ["boom"])
    assert res.exit_code == 1 and isinstance(res.exception, KeyError)


@pytest.mark.parametrize("args, code, message", [
    (["live", "--size", "12"], 2, "WIDTHxHEIGHT"),
    (["calibrate", "--out", "/nonexistent/folder/me.json"], 2, "does not exist"),
])
def test_user_errors_from_commands_reach_the_one_handler(args, code, message):
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == code and message in res.output and res.output.startswith("error: ")
