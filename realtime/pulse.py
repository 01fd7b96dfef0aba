"""The Linux sound server (PulseAudio, or PipeWire through pipewire-pulse) as its command-line
clients see it, and the virtual microphone "latentcam mic" made of two of its modules.

Everything goes through ``pactl`` (pulseaudio-utils), which speaks the same protocol to both
servers, so no binding library is needed. ``PULSE_SERVER`` / ``PULSE_RUNTIME_PATH`` in the
environment pick the server, as for every PulseAudio client.

The virtual microphone is a mono null sink (what the relay plays into) plus a remap source on its
monitor: call apps list the remap source as "latentcam mic" (many hide monitor sources). Both
modules carry an owner tag in their arguments, ``latentcam.owner=PID`` and
``latentcam.started=CREATE_TIME`` (a ``psutil`` process start time, so a recycled PID is not
mistaken for the owner). ``VirtualMic`` unloads its modules on close; whatever a killed process
left behind is unloaded by the next ``VirtualMic`` to open (``remove_leftovers``), because
``pactl list short modules`` shows every module's arguments and the tag says whose it was.

Linux only: the module is importable everywhere, but only ``audio_delay`` (behind its platform
check) and ``doctor`` call it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from latentcam.facekit.errors import LatentcamError

#: The command-line clients the lip-sync delay needs (Debian/Ubuntu: pulseaudio-utils).
TOOLS = ("pactl", "parec", "pacat")
#: What fixes a missing client or an unreachable server.
INSTALL_FIX = ("install the sound server's clients: `sudo apt install pulseaudio-utils` "
               "(PipeWire desktops: also `sudo apt install pipewire-pulse`)")
START_FIX = ("start the sound server of your desktop session: `systemctl --user start "
             "pipewire-pulse` (PipeWire) or `pulseaudio --start` (PulseAudio)")

#: The source call apps pick, and the sink the relay plays into (its monitor feeds the source).
MIC_SOURCE = "latentcam_mic"
MIC_DESCRIPTION = "latentcam mic"
MIC_SINK = "latentcam_mic_sink"
SINK_DESCRIPTION = "latentcam mic (internal, do not select)"

_OWNER = re.compile(r"latentcam\.owner=(\d+)\s+latentcam\.started=([0-9.]+)")


class SoundServerError(LatentcamError, RuntimeError):
    """The sound server or its clients are missing or refused a request; the hint says what to do."""


def missing_tools() -> list[str]:
    """The clients of ``TOOLS`` that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def pactl(*args: str, timeout: float = 5.0) -> str:
    """Run ``pactl ARGS`` and return its output; a failure is a ``SoundServerError``."""
    if shutil.which("pactl") is None:
        raise SoundServerError("pactl (the sound server's command-line client) is not installed",
                               hint=INSTALL_FIX)
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SoundServerError(f"the sound server did not answer `pactl {args[0]}` within {timeout:g} s",
                               hint=START_FIX) from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        hint = START_FIX if "onnection" in reason else ""
        raise SoundServerError(f"pactl {' '.join(args[:2])}: {reason}", hint=hint)
    return done.stdout


def server_info() -> dict[str, str]:
    """``pactl info`` as a dict ("Server Name", "Server Version", "Default Source", ...)."""
    info = {}
    for line in pactl("info").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


@dataclass(frozen=True)
class ServerInfo:
    """What latentcam uses of ``pactl info`` (read once per check)."""

    description: str                # e.g. "pulseaudio 16.1", "PulseAudio (on PipeWire 0.3.65) 15.0.0"
    default_source: str | None      # the default microphone; None when the server has none

    def require_default_source(self) -> str:
        if self.default_source is None:
            raise SoundServerError("the sound server has no default microphone",
                                   hint="name one: --delay-audio MIC (see `pactl list short sources`)")
        return self.default_source


def check_server() -> ServerInfo:
    """Raise ``SoundServerError`` with the fix when the clients or the server are missing;
    otherwise return what the server says of itself."""
    missing = missing_tools()
    if missing:
        raise SoundServerError(f"{', '.join(missing)} not installed", hint=INSTALL_FIX)
    info = server_info()
    source = info.get("Default Source", "")
    return ServerInfo(f"{info.get('Server Name', 'sound server')} {info.get('Server Version', '')}".strip(),
                      source if source and source != "n/a" else None)


def source_names() -> list[str]:
    return [line.split("\t")[1] for line in pactl("list", "short", "sources").splitlines()
            if line.count("\t") >= 1]


@dataclass(frozen=True)
class Module:
    """One loaded module as ``pactl list short modules`` shows it."""

    index: int
    name: str
    arguments: str

    @property
    def owner(self) -> tuple[int, float] | None:
        """(pid, process start time) of the latentcam process that loaded it, else None."""
        m = _OWNER.search(self.arguments)
        return (int(m.group(1)), float(m.group(2))) if m else None


def list_modules() -> list[Module]:
    modules = []
    for line in pactl("list", "short", "modules").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip().isdigit():
            modules.append(Module(int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
    return modules


def load_module(name: str, *arguments: str) -> int:
    """Load a module; returns its index."""
    out = pactl("load-module", name, *arguments).strip()
    try:
        return int(out.splitlines()[-1])
    except (ValueError, IndexError):
        raise SoundServerError(f"pactl load-module {name}: unexpected answer {out!r}") from None


def unload_module(index: int) -> None:
    pactl("unload-module", str(index))


def process_started(pid: int) -> float | None:
    """The start time of process ``pid`` (psutil's create_time), None if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def owner_alive(owner: tuple[int, float]) -> bool:
    """Is the process that tagged a module still running? (Same PID and the same start time:
    a PID the system has since given to another process does not count.)"""
    pid, started = owner
    now = process_started(pid)
    return now is not None and abs(now - started) < 1.0


def remove_leftovers() -> list[Module]:
    """Unload the latentcam modules whose owner process is gone (killed, crashed); returns them."""
    removed = []
    # Newest first: a remap source goes before the sink it sits on (unloading the sink first
    # would take the source with it, unreported).
    for module in sorted(list_modules(), key=lambda m: -m.index):
        if module.owner is not None and not owner_alive(module.owner):
            try:
                unload_module(module.index)
            except SoundServerError:
                continue                    # unloaded meanwhile (e.g. its sink went first)
            removed.append(module)
    return removed


def _quote(value: str) -> str:
    return '"' + value.replace('"', "") + '"'


class VirtualMic:
    """The "latentcam mic" source and the sink that feeds it, owned by this process.

    ``open()`` first unloads what a killed latentcam left behind, refuses to start beside a
    running one (the source name is fixed, so call apps remember the choice), then loads a mono
    ``module-null-sink`` and a ``module-remap-source`` on its monitor. ``close()`` unloads both
    and is safe to call twice.
    """

    def __init__(self, rate: int = 48000):
        self.rate = rate
        self.modules: list[int] = []
        self.leftovers_removed: list[Module] = []
        pid = os.getpid()
        started = process_started(pid)
        self._tag = f"latentcam.owner={pid} latentcam.started={started:.3f}"

    def open(self) -> "VirtualMic":
        self.leftovers_removed = remove_leftovers()
        for module in list_modules():
            if module.owner is not None and module.owner[0] != os.getpid():
                raise SoundServerError(
                    f"{MIC_DESCRIPTION!r} is already provided by latentcam process {module.owner[0]}",
                    hint="stop the other `latentcam live --delay-audio` first (one virtual "
                         "microphone at a time)")
        names = source_names()
        if MIC_SOURCE in names or f"{MIC_SINK}.monitor" in names:
            raise SoundServerError(f"the sound server already has a source named {MIC_SOURCE!r} "
                                   "not made by latentcam",
                                   hint=f"unload it (`pactl list short modules`, then `pactl "
                                        f"unload-module N`)")
        try:
            self.modules.append(load_module(
                "module-null-sink", f"sink_name={MIC_SINK}", f"rate={self.rate}", "channels=1",
                "channel_map=mono",
                f"sink_properties='device.description={_quote(SINK_DESCRIPTION)} {self._tag}'"))
            self.modules.append(load_module(
                "module-remap-source", f"source_name={MIC_SOURCE}", f"master={MIC_SINK}.monitor",
                "channels=1", "channel_map=mono",
                f"source_properties='device.description={_quote(MIC_DESCRIPTION)} {self._tag}'"))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        # The source first: it sits on the sink's monitor.
        while self.modules:
            index = self.modules.pop()
            try:
                unload_module(index)
            except SoundServerError:
                pass                        # the server went away: nothing left to remove

    def __enter__(self) -> "VirtualMic":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["INSTALL_FIX", "MIC_DESCRIPTION", "MIC_SINK", "MIC_SOURCE", "Module", "SoundServerError",
           "START_FIX", "ServerInfo", "TOOLS", "VirtualMic", "check_server", "list_modules",
           "missing_tools", "owner_alive", "pactl", "remove_leftovers", "server_info",
           "source_names"]
