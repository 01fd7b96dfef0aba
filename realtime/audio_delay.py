"""Lip sync on Linux: a virtual microphone that plays the real one late by the video's latency.

The reenacted video reaches the call app one end-to-end latency (capture → sink write,
``Telemetry``) after the camera saw it; the microphone does not wait. ``AudioDelay`` creates
"latentcam mic" (``pulse.VirtualMic``) and relays the chosen microphone into it, delayed by the
live latency, which ``LatencyFollower`` feeds it from the pipeline's telemetry.

How the delay is made (the design choice). PulseAudio's ``module-loopback`` would delay with no
code of ours, but its ``latency_msec`` is fixed when the module loads: following a latency that
moves means reloading it (a gap each time), and the module steers towards its latency in its own
way on each server, out of our sight. So the program relays the audio itself, which gives
sample-exact control, measured the same way on both servers, through the same clients:

    MIC ─► parec (raw s16le mono) ─► AudioRelay: resample each 10 ms block by ±k samples
        ─► pipe (the delay line) ─► pacat ─► latentcam_mic_sink ─► monitor ─► "latentcam mic"

* The delay line is the pipe into ``pacat``: the kernel holds the delayed audio, so ``pacat``
  keeps playing it even while this process is busy for longer than a block. Its fill is read
  with ``FIONREAD`` each block, and so is what waits in ``parec``'s pipe (a block read late has
  waited that long); the delay the call app sees is the two plus a constant of the path
  (``base_ms``: ``parec``'s and ``pacat``'s buffers and the null sink, measured by
  ``benchmarks/realtime/audio_delay.py``).
* The delay moves towards the requested one by resampling each block (linear interpolation)
  to a few samples more or fewer — at most ``max_rate`` (2 %: 20 ms per second of audio, a pitch
  change of a third of a semitone while it moves, not a click) and proportionally less near the
  target (an error is halved in about a third of a second), with a dead band so a steady delay is
  left alone. The first request, and any error of more than ``jump_ms``, is made good at once:
  too short, by writing silence (at start nothing is said yet); too long — after a stall of this
  process, e.g. while the models load, the microphone's audio waited in ``parec``'s pipe — by
  dropping whole blocks until it is within ``jump_ms``.
* What is requested is the median end-to-end latency over the last second (``LatencyFollower``),
  plus ``offset_ms`` for what the program cannot measure (the camera's own delay before the
  frame reaches us).

Linux only: on other systems ``linux_only_error`` says what to do instead (the call app's audio
delay setting, or OBS's "Sync Offset").
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from latentcam.facekit.errors import LatentcamError

from . import pulse

#: Pipe size for the delay line (Linux F_SETPIPE_SZ; the default 64 KiB holds only 0.68 s at
#: 48 kHz mono s16). 256 KiB holds 2.7 s, more than ``AudioOptions.max_ms`` allows.
_PIPE_BYTES = 1 << 18
_F_SETPIPE_SZ = 1031                    # fcntl.F_SETPIPE_SZ (Linux; Python >= 3.10 names it)
_FIONREAD = 0x541B                      # termios.FIONREAD (Linux)


def linux_only_error() -> LatentcamError:
    """The error ``--delay-audio`` gives on Windows and macOS, with what to do there."""
    return LatentcamError(
        f"--delay-audio is Linux only (PulseAudio or PipeWire); this is {sys.platform}",
        hint="delay the microphone where you use it: set the call app's audio delay if it has "
             "one, or in OBS add the microphone and set Advanced Audio Properties → Sync Offset "
             "to the end-to-end latency the status line shows (e.g. 80 ms)")


#: The path's own delay besides the relay's pipes (parec's and pacat's buffers, the null sink and
#: its monitor), with ``RelayOptions``' buffer sizes, measured as "lag − what the relay sees in its
#: pipes" (benchmarks/realtime/audio_delay.md: PulseAudio 16.1, 17.9–20.0 ms over the runs;
#: audio_delay_pipewire.md: PipeWire 0.3.65 with its default 1024-sample quantum, 28.2–28.8 ms,
#: once 33 ms while PipeWire had changed its quantum). ``AudioOptions.offset_ms`` corrects the rest.
PATH_BASE_MS = {"pulseaudio": 19.5, "pipewire": 28.6}


def path_base_ms(server_name: str) -> float:
    """``PATH_BASE_MS`` for a server as ``pactl info`` names it ("pulseaudio", "PulseAudio (on
    PipeWire 0.3.65)")."""
    return PATH_BASE_MS["pipewire" if "pipewire" in server_name.lower() else "pulseaudio"]


@dataclass(frozen=True)
class RelayOptions:
    """How the relay moves audio and steers its delay."""

    rate: int = 48000          # samples per second (mono s16le through parec/pacat)
    block_ms: float = 10.0     # read size; also parec's --latency-msec
    out_latency_ms: float = 10.0   # pacat's --latency-msec (its buffer before the sink)
    out_channel: str = "mono"  # the channel played (a stereo sink's "front-right": measurements)
    base_ms: float = 19.5      # the path's delay besides the pipes (``path_base_ms``)
    min_fill_ms: float = 20.0  # never let the pipe hold less (pacat must not run dry)
    max_rate: float = 0.02     # the fastest the delay moves: 2 % = 20 ms per second of audio
    settle_s: float = 0.5      # proportional steering: an error is corrected over this time
    dead_band_ms: float = 0.5  # a smaller error is left alone (no endless tiny resampling)
    jump_ms: float = 50.0      # an error larger than this is made good at once: silence
                               # inserted, or whole blocks dropped (after a stall)

    def validate(self) -> None:
        if self.rate < 8000 or self.block_ms < 2 or self.out_latency_ms < 2:
            raise ValueError("relay: rate >= 8000, block_ms and out_latency_ms >= 2")
        if not 0 < self.max_rate <= 0.05:
            raise ValueError("relay: max_rate must be in (0, 0.05] (a larger pitch change is audible)")


class DelaySteering:
    """The steering of the delay, without I/O: given the delay line's fill, how many samples
    the next block should have, and how much silence to insert.

    ``fill_ms`` readings are smoothed (``pacat`` takes its input in chunks, so the fill is a
    saw tooth a few ms high); the estimate of the delay is ``base_ms + smoothed fill``.
    """

    def __init__(self, options: RelayOptions):
        self.o = options
        self.target_ms: float | None = None
        self.estimate_ms: float | None = None
        self._smoothed_fill: float | None = None
        self._carry = 0.0
        self._started = False

    def plan(self, fill_ms: float, block: int, target_ms: float | None) -> tuple[int, int]:
        """For a block of ``block`` input samples: (output length, samples of silence to write
        first). Length 0 drops the block."""
        o = self.o
        if target_ms is None:                         # nothing requested yet: smallest delay
            target_ms = o.base_ms + o.min_fill_ms
        target_ms = max(target_ms, o.base_ms + o.min_fill_ms)
        self.target_ms = target_ms
        raw_error = target_ms - (o.base_ms + fill_ms)
        if self._smoothed_fill is None or abs(raw_error) > o.jump_ms:
            self._smoothed_fill = fill_ms             # far off: act on the reading itself
        else:                                         # ~100 ms smoothing of the saw tooth
            self._smoothed_fill += min(1.0, o.block_ms / 100.0) * (fill_ms - self._smoothed_fill)
        self.estimate_ms = o.base_ms + self._smoothed_fill
        error = target_ms - self.estimate_ms
        if error > o.jump_ms or not self._started:    # far too short: silence, at once
            self._started = True
            silence = max(0, int(round(error * o.rate / 1000.0)))
            self._smoothed_fill += silence * 1000.0 / o.rate
            self.estimate_ms += silence * 1000.0 / o.rate
            return block, silence
        if error < -o.jump_ms:                        # far too long (after a stall): drop the block
            return 0, 0
        if abs(error) <= o.dead_band_ms:
            rate = 0.0
        else:
            rate = float(np.clip(error / 1000.0 / o.settle_s, -o.max_rate, o.max_rate))
        self._carry += rate * block
        extra = int(self._carry)
        self._carry -= extra
        return block + extra, 0


def resample(block: np.ndarray, length: int) -> np.ndarray:
    """``block`` (int16) stretched or squeezed to ``length`` samples by linear interpolation."""
    n = block.shape[0]
    if length == n:
        return block
    x = np.linspace(0.0, n - 1.0, length)
    return np.round(np.interp(x, np.arange(n), block.astype(np.float32))).astype(np.int16)


class AudioRelay:
    """``parec SOURCE`` → steered pipe → ``pacat SINK`` on a thread; ``set_delay_ms`` is the one
    thread-safe way in. A context manager; ``close()`` is safe twice.

    Both clients run in their own session, so a Ctrl-C in the terminal reaches only latentcam,
    which then closes them (and the virtual microphone) in order. If latentcam is killed, ``parec``
    exits on the broken pipe and ``pacat`` at the end of its input.
    """

    def __init__(self, source: str, sink: str, options: RelayOptions = RelayOptions(),
                 client_name: str = "latentcam"):
        options.validate()
        self.source, self.sink, self.options = source, sink, options
        self.client_name = client_name
        self.steering = DelaySteering(options)
        self._lock = threading.Lock()
        self._target_ms: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rec: subprocess.Popen | None = None
        self._play: subprocess.Popen | None = None
        self.error: str | None = None
        self.blocks = 0
        self.history: list[tuple[float, float, float]] = []   # (time, target ms, estimate ms), 1/s

    # --- the control surface -------------------------------------------------------------------
    def set_delay_ms(self, ms: float) -> None:
        """Ask for a total delay (the call app hears the mic ``ms`` late). Any thread."""
        with self._lock:
            self._target_ms = float(ms)

    @property
    def requested_ms(self) -> float | None:
        with self._lock:
            return self._target_ms

    @property
    def delay_ms(self) -> float | None:
        """The delay now (the steering's estimate), None before the first block."""
        return self.steering.estimate_ms

    # --- lifecycle -------------------------------------------------------------------------------
    def open(self) -> "AudioRelay":
        o = self.options
        fmt = ["--format=s16le", f"--rate={o.rate}", "--channels=1", "--raw",
               f"--client-name={self.client_name}"]
        self._rec = subprocess.Popen(
            ["parec", f"--device={self.source}", *fmt, f"--latency-msec={o.block_ms:g}",
             "--stream-name=latentcam delay (microphone in)"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self._play = subprocess.Popen(
            ["pacat", "--playback", f"--device={self.sink}", *fmt, f"--channel-map={o.out_channel}",
             f"--latency-msec={o.out_latency_ms:g}", "--stream-name=latentcam delay (out)"],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        import fcntl                    # Linux only: imported where used

        try:
            fcntl.fcntl(self._play.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass                                   # the default size still holds 0.68 s
        self._thread = threading.Thread(target=self._run, name="latentcam-audio", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        for proc in (self._rec, self._play):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for proc in (self._rec, self._play):
            if proc is None:
                continue
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        self._rec = self._play = None

    def __enter__(self) -> "AudioRelay":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the relay thread ------------------------------------------------------------------------
    def _fill_ms(self, fd: int) -> float:
        """Audio waiting in a pipe (ms): behind the block just read from parec, or ahead of
        the block about to be written to pacat."""
        import array
        import fcntl

        buf = array.array("i", [0])
        fcntl.ioctl(fd, _FIONREAD, buf)
        return buf[0] / 2 * 1000.0 / self.options.rate

    def _run(self) -> None:
        o = self.options
        block = int(round(o.rate * o.block_ms / 1000.0))
        want = block * 2
        src, dst = self._rec.stdout.fileno(), self._play.stdin.fileno()
        pending = bytearray()
        last_history = 0.0
        try:
            while not self._stop.is_set():
                chunk = os.read(src, want - len(pending))
                if not chunk:
                    if not self._stop.is_set():
                        self.error = "the microphone stream ended: " + self._stderr(self._rec)
                    return
                pending += chunk
                if len(pending) < want:
                    continue
                samples = np.frombuffer(bytes(pending), dtype=np.int16)
                pending.clear()
                # What this block waited for behind it (late reads) is part of its delay too.
                waited = self._fill_ms(src)
                length, silence = self.steering.plan(waited + self._fill_ms(dst), block,
                                                     self.requested_ms)
                out = resample(samples, length) if length else samples[:0]
                if silence:
                    out = np.concatenate([np.zeros(silence, np.int16), out])
                os.write(dst, out.tobytes())
                self.blocks += 1
                now = time.monotonic()
                if now - last_history >= 1.0:
                    last_history = now
                    self.history.append((now, self.steering.target_ms, self.steering.estimate_ms))
        except (BrokenPipeError, OSError) as exc:
            if not self._stop.is_set():
                self.error = f"the virtual microphone stream ended ({exc}): " + self._stderr(self._play)

    @staticmethod
    def _stderr(proc: subprocess.Popen | None) -> str:
        if proc is None or proc.poll() is None:
            return "no reason given"
        try:
            return proc.stderr.read().decode(errors="replace").strip() or f"exit code {proc.returncode}"
        except (OSError, ValueError):
            return f"exit code {proc.returncode}"


@dataclass(frozen=True)
class AudioOptions:
    """The ``[audio]`` settings: lip sync by a delayed virtual microphone (Linux)."""

    delay: bool = False              # --delay-audio: make "latentcam mic", the mic delayed like the video
    mic: str = "@DEFAULT_SOURCE@"    # the microphone (`pactl list short sources`); the server's default
    offset_ms: float = 0.0           # added to the measured latency (the camera's own delay, before
                                     # the capture stamp, which the program cannot see)
    max_ms: float = 1000.0           # never delay more than this
    follow_window_s: float = 1.0     # the delay follows the median end-to-end latency over this span

    def validate(self) -> None:
        if not self.mic.strip():
            raise ValueError("audio.mic must name a source (or @DEFAULT_SOURCE@)")
        if not -500.0 <= self.offset_ms <= 500.0:
            raise ValueError(f"audio.offset_ms must be in -500..500; got {self.offset_ms}")
        if not 50.0 <= self.max_ms <= 2000.0:
            raise ValueError(f"audio.max_ms must be in 50..2000; got {self.max_ms}")
        if not 0.1 <= self.follow_window_s <= 10.0:
            raise ValueError(f"audio.follow_window_s must be in 0.1..10; got {self.follow_window_s}")


PICK_MIC_HELP = ('pick "latentcam mic" as the microphone in your call app: Zoom: Settings → Audio → '
                 'Microphone; Google Meet: ⋮ → Settings → Audio → Microphone; Discord: User Settings '
                 '→ Voice & Video → Input Device')


class AudioDelay:
    """The lip-sync stage: ``pulse.VirtualMic`` + ``AudioRelay`` from the chosen microphone.

    ``set_latency_ms(e2e)`` (any thread) asks for ``e2e + offset_ms``, capped at ``max_ms``.
    A context manager: ``open()`` checks the platform, the clients and the server, removes a
    killed run's leftovers, creates the device and starts the relay; ``close()`` stops the relay
    and removes the device, and is safe twice.
    """

    def __init__(self, options: AudioOptions, relay: RelayOptions | None = None):
        options.validate()
        self.options, self.relay_options = options, relay      # None: for the server found
        self.mic: str | None = None
        self.server: str | None = None
        self.device: pulse.VirtualMic | None = None
        self.relay: AudioRelay | None = None
        self.latency_updates = 0

    def open(self) -> "AudioDelay":
        if not sys.platform.startswith("linux"):
            raise linux_only_error()
        server = pulse.check_server()
        self.server = server.description
        if self.relay_options is None:
            self.relay_options = RelayOptions(base_ms=path_base_ms(self.server))
        mic = self.options.mic
        if mic == "@DEFAULT_SOURCE@":
            mic = server.require_default_source()
        if mic in (pulse.MIC_SOURCE, f"{pulse.MIC_SINK}.monitor"):
            raise pulse.SoundServerError(
                f"the microphone to delay is {mic!r}, latentcam's own output (it would feed itself)",
                hint="make your real microphone the default again, or name it: --delay-audio MIC "
                     "(see `pactl list short sources`)")
        names = pulse.source_names()
        if mic not in names:
            real = [n for n in names if not n.endswith(".monitor") and not n.startswith("latentcam")]
            raise pulse.SoundServerError(
                f"no microphone {mic!r} on the sound server",
                hint="name one of: " + (", ".join(real) or "(none: connect a microphone)"))
        self.mic = mic
        try:
            self.device = pulse.VirtualMic(self.relay_options.rate).open()
            self.relay = AudioRelay(mic, pulse.MIC_SINK, self.relay_options).open()
            self._check_flow()
        except BaseException:
            self.close()
            raise
        return self

    def _check_flow(self, timeout_s: float = 3.0) -> None:
        """The first blocks pass, or the reason they cannot (a microphone that vanished, a
        client that refused its options) is an error now, not a silent device later."""
        relay = self.relay
        deadline = time.monotonic() + timeout_s
        while relay.blocks == 0 and relay.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        if relay.error or not relay.alive:
            raise pulse.SoundServerError(
                f"the microphone {self.mic!r} cannot be relayed: {relay.error or 'the relay stopped'}",
                hint="check it with `parec --device=MIC | head -c 100000 | wc -c`; another "
                     "microphone: --delay-audio MIC")

    def set_latency_ms(self, e2e_ms: float) -> None:
        """The video's end-to-end latency now (ms); the microphone follows it. Any thread."""
        if self.relay is not None:
            self.latency_updates += 1
            self.relay.set_delay_ms(min(self.options.max_ms, e2e_ms + self.options.offset_ms))

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
        if self.device is not None:
            self.device.close()
            self.device = None

    def __enter__(self) -> "AudioDelay":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def ready_message(self) -> str:
        return (f'virtual microphone "{pulse.MIC_DESCRIPTION}" ready ({self.server}): the microphone '
                f"{self.mic} delayed by the live end-to-end latency; {PICK_MIC_HELP}")

    def summary(self) -> dict:
        """What the delay did: the microphone, the last request and estimate, and how far the
        estimate stayed from the request once per second (ms)."""
        relay = self.relay
        history = relay.history if relay is not None else []
        errors = np.array([abs(t - e) for _, t, e in history if t is not None and e is not None])
        return {
            "mic": self.mic, "server": self.server, "offset_ms": self.options.offset_ms,
            "base_ms": self.relay_options.base_ms if self.relay_options else None,
            "requested_ms": relay.requested_ms if relay is not None else None,
            "delay_ms": relay.delay_ms if relay is not None else None,
            "latency_updates": self.latency_updates,
            "follow_error_ms": {"p50": float(np.median(errors)) if errors.size else None,
                                "max": float(errors.max()) if errors.size else None,
                                "n": int(errors.size)},
            "relay_error": relay.error if relay is not None else None,
        }


class LatencyFollower:
    """The pipeline's ``on_frame`` hook that feeds ``AudioDelay`` the median end-to-end latency
    of the last ``window_s`` (from ``Telemetry``, which has recorded the frame by then), every
    ``every`` frames: a median over a second ignores one slow frame, and follows a lasting
    change within that second."""

    def __init__(self, delay: AudioDelay, telemetry, fps: float, every: int = 3):
        self.delay, self.telemetry, self.every = delay, telemetry, every
        self.window = max(1, int(round(delay.options.follow_window_s * fps)))
        self._n = 0

    def __call__(self, output=None, work=None) -> None:
        self._n += 1
        if self._n % self.every:
            return
        e2e = self.telemetry.recent_e2e_ms(self.window)
        if e2e is not None and np.isfinite(e2e):
            self.delay.set_latency_ms(e2e)


__all__ = ["AudioDelay", "AudioOptions", "AudioRelay", "DelaySteering", "LatencyFollower",
           "PATH_BASE_MS", "PICK_MIC_HELP", "RelayOptions", "linux_only_error", "path_base_ms",
           "resample"]
