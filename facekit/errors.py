"""The one error root of latentcam.

Every error a user can cause or fix (a missing file, a camera or virtual camera that is not
there, a malformed bundle, profile or config, an engine that cannot run) derives from
``LatentcamError``. It carries ``hint`` — what the user should do, when the message alone does
not say it — and ``exit_code``: 2 for bad input (a file, flag or setting the user gave), 1 for
what this machine lacks. ``latentcam.cli`` turns it into ``error: …`` (+ ``hint: …``) and the
exit code in one place; everything else (a bug) keeps its traceback.

It lives in the base layer so that every subpackage can derive from it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class LatentcamError(Exception):
    """A user-facing error: ``str(exc)`` says what happened, ``hint`` what to do about it."""

    #: Process exit code the CLI uses: 2 bad input, 1 a missing or failing device/dependency.
    exit_code: int = 1

    def __init__(self, message: str = "", *args, hint: str = "") -> None:
        super().__init__(message, *args)
        self.hint = hint


class InputError(LatentcamError):
    """Something the user gave (a file, a flag, a setting) is wrong: exit code 2."""

    exit_code = 2


@contextmanager
def options_checked() -> Iterator[None]:
    """Around a command's option parsing/validation: a plain ``ValueError`` raised there
    ("--steps must be >= 1") is bad input, so it becomes an ``InputError`` (exit code 2)."""
    try:
        yield
    except LatentcamError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from None


__all__ = ["InputError", "LatentcamError", "options_checked"]
