"""A real ``latentcam`` subprocess stopped the way a user stops it: Ctrl-C (SIGINT)."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Callable


def interrupt_when(proc: subprocess.Popen, ready: Callable[[], bool], *, ready_within_s: float,
                   then_run_s: float) -> str:
    """Wait until ``ready()`` (failing if the process ends first or it takes longer than
    ``ready_within_s``), let it run ``then_run_s`` more, send SIGINT and return its stderr once
    it has exited with 0. The process is killed if anything goes wrong on the way."""
    try:
        deadline = time.monotonic() + ready_within_s
        while proc.poll() is None and not ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert ready(), f"not ready within {ready_within_s} s"
        time.sleep(then_run_s)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err[-2000:]
    return err
