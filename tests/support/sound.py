"""A real PulseAudio server for the lip-sync tests and benchmark, started in a scratch folder,
and the instruments to measure a delay through it.

The server's configuration (``-n -F``: nothing from the system's default.pa) loads only:

* ``feed``: a stereo null sink the test plays into (its monitor runs on the null sink's timer,
  as a sound card would);
* ``fakemic``: a mono remap source of ``feed``'s left channel — the microphone (the default source).

A relay under test plays its mono stream into ``feed`` with the channel map ``front-right``
(``RelayOptions.out_channel``), so one recording of ``feed.monitor`` holds the microphone (left)
and the delayed copy (right) on one clock: their lag is the delay, sample-exact, whatever the
start-up timing of the player and the recorder, through the same kind of path (pacat into a
null sink, read from its monitor) as "latentcam mic".

``SoundServer.env`` is the environment (``PULSE_SERVER``, ``PULSE_RUNTIME_PATH``, ``HOME``)
every client of it, including a ``latentcam`` subprocess, needs. As root, pulseaudio warns that
it is "not intended to be run as root" and runs (checked with Debian's pulseaudio 16.1).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

RATE = 48000

CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name=feed rate={rate} channels=2 channel_map=front-left,front-right
load-module module-remap-source source_name=fakemic master=feed.monitor channels=1 master_channel_map=front-left channel_map=mono
set-default-source fakemic
set-default-sink feed
"""


def pulseaudio_missing() -> str | None:
    """Why no test server can start here (None when it can)."""
    from latentcam.realtime.pulse import missing_tools

    missing = (["pulseaudio"] if shutil.which("pulseaudio") is None else []) + missing_tools()
    if missing:
        return (f"{', '.join(missing)} not installed (Debian: apt-get install pulseaudio "
                "pulseaudio-utils; .ci/run installs them)")
    return None


class SoundServer:
    """``pulseaudio`` on a socket in ``folder``; a context manager that stops it on exit."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.socket = self.folder / "native"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{self.socket}",
                    "PULSE_RUNTIME_PATH": str(self.folder / "runtime"), "HOME": str(self.folder)}
        self.env.pop("PULSE_COOKIE", None)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "SoundServer":
        (self.folder / "runtime").mkdir(parents=True, exist_ok=True)
        config = self.folder / "server.pa"
        config.write_text(CONFIG.format(socket=self.socket, rate=RATE))
        self.log = open(self.folder / "server.log", "wb")
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1",
             "--use-pid-file=no", "--log-target=stderr", "--disable-shm=yes",
             # Root (CI) may raise the server's priority as a desktop session's rtkit does; elsewhere
             # pulseaudio notes that it cannot and runs as it is.
             "--high-priority=yes", "--realtime=yes"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pulseaudio exited: " + (self.folder / "server.log").read_text()[-2000:])
            if self.pactl("info", check=False).returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("pulseaudio did not answer within 10 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def apply(self) -> None:
        """Point this process's own PulseAudio clients (pactl calls of the code under test) here."""
        os.environ.update({k: self.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH")})

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              timeout=10, check=check)

    def sources(self) -> list[str]:
        return [line.split("\t")[1] for line in self.pactl("list", "short", "sources").stdout.splitlines()]

    def modules(self) -> list[str]:
        return self.pactl("list", "short", "modules").stdout.splitlines()

    def play(self, sink: str, samples: np.ndarray) -> subprocess.Popen:
        """Play int16 samples (N, channels) into ``sink``; returns the ``pacat`` process."""
        channels = samples.shape[1]
        path = self.folder / f"play-{time.monotonic_ns()}.raw"
        path.write_bytes(np.ascontiguousarray(samples, np.int16).tobytes())
        return subprocess.Popen(["pacat", "--playback", f"--device={sink}", "--format=s16le",
                                 f"--rate={RATE}", f"--channels={channels}", "--raw",
                                 "--latency-msec=20", str(path)], env=self.env)

    def record(self, source: str, channels: int) -> "Recorder":
        return Recorder(self, source, channels)


class RunningServer(SoundServer):
    """The same topology (``feed``, ``fakemic``) loaded into a server that already runs — the
    one ``PULSE_SERVER`` names, e.g. PipeWire's ``pipewire-pulse`` — and unloaded on exit."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.env = dict(os.environ)
        self.modules_loaded: list[str] = []

    def __enter__(self) -> "RunningServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        for line in CONFIG.format(socket="", rate=RATE).splitlines():
            words = line.split()
            if words[0] == "load-module" and words[1] != "module-native-protocol-unix":
                self.modules_loaded.append(self.pactl(*words).stdout.strip())
            elif words[0].startswith("set-default"):
                self.pactl(*words, check=False)
        return self

    def __exit__(self, *exc) -> None:
        for index in reversed(self.modules_loaded):
            self.pactl("unload-module", index, check=False)


class Recorder:
    """``parec SOURCE`` into a raw file; ``stop()`` returns what it recorded."""

    def __init__(self, server: SoundServer, source: str, channels: int):
        self.channels = channels
        self.path = server.folder / f"rec-{time.monotonic_ns()}.raw"
        self._file = open(self.path, "wb")
        self.proc = subprocess.Popen(["parec", f"--device={source}", "--format=s16le",
                                      f"--rate={RATE}", f"--channels={channels}", "--raw",
                                      "--latency-msec=10"],
                                     env=server.env, stdout=self._file)

    def started(self, timeout: float = 5.0) -> "Recorder":
        """Wait until audio arrives (parec connects in its own time), so nothing played after
        this is missed."""
        deadline = time.monotonic() + timeout
        while self.path.stat().st_size == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> np.ndarray:
        """The recording so far as int16 (N, channels)."""
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self._file.close()
        data = np.frombuffer(self.path.read_bytes(), np.int16)
        return data[: data.size // self.channels * self.channels].reshape(-1, self.channels)


def chirp(ms: float = 20.0, f0: float = 500.0, f1: float = 6000.0, amplitude: float = 12000) -> np.ndarray:
    """A Hann-windowed linear chirp: broadband, so its cross-correlation peak is one sample wide."""
    n = int(RATE * ms / 1000)
    t = np.arange(n) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * t[-1]))
    return (amplitude * np.hanning(n) * np.sin(phase)).astype(np.int16)


def bursts(seconds: float, every_s: float, lead_s: float = 0.3, channels: int = 2,
           channel: int = 0) -> np.ndarray:
    """``seconds`` of silence with a ``chirp`` every ``every_s`` on ``channel`` (after ``lead_s``)."""
    out = np.zeros((int(RATE * seconds), channels), np.int16)
    c = chirp()
    for start in np.arange(lead_s, seconds - every_s / 2, every_s):
        i = int(start * RATE)
        out[i:i + c.size, channel] = c
    return out


def _correlate(signal: np.ndarray, template: np.ndarray) -> np.ndarray:
    n = signal.size + template.size
    size = 1 << int(np.ceil(np.log2(n)))
    spec = np.fft.rfft(signal.astype(np.float64), size) * np.conj(np.fft.rfft(template.astype(np.float64), size))
    return np.fft.irfft(spec, size)[: signal.size]


def burst_times(channel: np.ndarray, min_gap_s: float = 0.15, threshold: float = 0.5) -> np.ndarray:
    """Sample positions (float, parabolic sub-sample peak) of every ``chirp`` in ``channel``."""
    corr = _correlate(channel, chirp())
    level = threshold * corr.max()
    if level <= 0:
        return np.zeros(0)
    peaks, gap, end = [], int(min_gap_s * RATE), -1
    for i in np.flatnonzero(corr >= level):
        if i <= end:
            continue
        j = int(i) + int(np.argmax(corr[i:i + gap]))
        if 0 < j < corr.size - 1:
            a, b, c = corr[j - 1], corr[j], corr[j + 1]
            denom = a - 2 * b + c
            peaks.append(j + (0.5 * (a - c) / denom if denom else 0.0))
        end = j + gap
    return np.asarray(peaks)


def lags_ms(recording: np.ndarray, max_lag_s: float = 0.5) -> list[tuple[float, float]]:
    """For a stereo recording (left: the microphone, right: its delayed copy): for each left
    burst, (its time in s, ms until the same burst on the right)."""
    left = burst_times(recording[:, 0])
    right = burst_times(recording[:, 1])
    out = []
    for p in left:
        later = right[(right >= p) & (right <= p + max_lag_s * RATE)]
        if later.size:
            out.append((p / RATE, (later[0] - p) * 1000.0 / RATE))
    return out
