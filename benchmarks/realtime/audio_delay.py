"""How exactly the lip-sync relay (``realtime/audio_delay.py``) delays a microphone, measured on a
real PulseAudio server started for the run.

    .venv/bin/python benchmarks/realtime/audio_delay.py

Needs ``pulseaudio`` and ``pulseaudio-utils`` (Debian). The server and the instruments are the
tests' (``tests/support/sound.py``): the relay reads the microphone (the left channel of a null
sink) and plays into the right channel of the same sink, so one recording holds both on one clock
and each chirp's left→right lag (cross-correlation, sub-sample peak) is the delay a call app
would hear, with no start-up timing of player or recorder in it.

* **steady**: for each requested delay, chirps every 0.4 s for 4 s after 2 s of settling:
  measured lag − requested (mean, sd, largest) from the second second on, and ``base``: the lag
  minus what the relay sees in its pipes (the constant ``RelayOptions.base_ms`` must match it).
  In the first second the player's own stream joins the sink, which changes the sink's buffer
  size, so the path's delay moves by a few ms and the relay settles again: reported apart.
* **steps**: the request changed while chirps play; how long until the lag is within 2 ms of
  the new request, and the largest change between chirps 0.4 s apart (smoothness).

Writes ``audio_delay.json`` and ``audio_delay.md`` next to this script. ``--running NAME``
measures on the server that already runs (``PULSE_SERVER``; e.g. PipeWire's ``pipewire-pulse``)
instead and writes ``audio_delay_NAME.json`` / ``.md``. ``audio_delay_pipewire.md`` was measured
on Debian's PipeWire 0.3.65 started by hand with no sound card (``pipewire``; ``wireplumber``
with a session D-Bus from ``dbus-daemon --session``; ``pipewire-pulse``; then
``PULSE_SERVER=unix:$XDG_RUNTIME_DIR/pulse/native``), its default 1024-sample quantum.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.sound import RunningServer, SoundServer, bursts, lags_ms, pulseaudio_missing  # noqa: E402

from latentcam.realtime.audio_delay import AudioRelay, RelayOptions, path_base_ms  # noqa: E402
from latentcam.realtime.bench import machine_line  # noqa: E402

EVERY_S = 0.4
STEADY = (40.0, 60.0, 100.0, 200.0, 300.0)   # + the base, below the chirp spacing
STEPS = ((120.0, 95.0), (60.0, 100.0), (100.0, 200.0))


def _run(server: SoundServer, first_ms: float, then_ms: float | None, settle_s: float,
         seconds: float, change_at_s: float | None = None):
    """Chirps for ``seconds`` through a relay asked for ``first_ms`` (then ``then_ms`` at
    ``change_at_s``): [(time s, lag ms, relay's own estimate ms)]."""
    import psutil

    options = RelayOptions(out_channel="front-right", base_ms=path_base_ms(server.name))
    with AudioRelay("fakemic", "feed", options) as relay:
        relay.set_delay_ms(first_ms)
        clients = [psutil.Process(relay._rec.pid), psutil.Process(relay._play.pid)]
        me = psutil.Process()
        time.sleep(settle_s)
        cpu0 = sum(sum(c.cpu_times()[:2]) for c in clients)
        thread0 = _thread_cpu(me, relay)
        w0 = time.monotonic()
        recorder = server.record("feed.monitor", 2).started()
        player = server.play("feed", bursts(seconds, EVERY_S))
        t0 = time.monotonic()
        estimates = []
        while player.poll() is None:
            now = time.monotonic() - t0
            if then_ms is not None and change_at_s is not None and now >= change_at_s:
                relay.set_delay_ms(then_ms)
            estimates.append((now, relay.delay_ms))
            time.sleep(0.02)
        wall = time.monotonic() - w0
        cpu = {"clients_percent": 100 * (sum(sum(c.cpu_times()[:2]) for c in clients) - cpu0) / wall,
               "relay_thread_percent": 100 * (_thread_cpu(me, relay) - thread0) / wall}
        time.sleep(0.2)
        recording = recorder.stop()
        if relay.error:
            raise RuntimeError(relay.error)
    est = np.array(estimates, dtype=float)
    out = []
    for t, lag in lags_ms(recording):
        i = min(int(np.searchsorted(est[:, 0], t)), len(est) - 1)
        out.append((float(t), float(lag), float(est[i, 1])))
    return out, cpu


def _thread_cpu(process, relay) -> float:
    """CPU seconds of the relay's thread (Linux: per-thread times by native id)."""
    tid = relay._thread.native_id
    return next((t.user_time + t.system_time for t in process.threads() if t.id == tid), 0.0)


def steady(server: SoundServer) -> list[dict]:
    rows = []
    base = path_base_ms(server.name)
    for ms in STEADY:
        points, cpu = _run(server, ms, None, settle_s=2.0, seconds=4.0)
        t = np.array([p[0] for p in points])
        every = np.array([p[1] for p in points])
        late = t >= 1.0                      # after the player's stream joined the sink (see doc)
        lag = every[late]
        seen = np.array([p[2] for p in points])[late] - base    # what the relay sees in its pipes
        made = max(ms, base + RelayOptions().min_fill_ms)         # a request below the floor gets it
        err = lag - made
        first = every[~late] - made
        rows.append({"requested_ms": ms, "made_ms": made, "chirps": int(lag.size), "mean_error_ms": float(err.mean()),
                     "sd_ms": float(err.std()), "max_abs_error_ms": float(np.abs(err).max()),
                     "first_second_max_abs_error_ms": float(np.abs(first).max()) if first.size else None,
                     "base_ms": float(np.median(lag - seen)), "cpu": cpu,
                     "lags_ms": [round(v, 2) for v in every]})
        print(f"steady {ms:5.0f} ms: error {err.mean():+.2f} ± {err.std():.2f} ms, "
              f"max |error| {np.abs(err).max():.2f} ms, base {rows[-1]['base_ms']:.2f} ms, CPU relay thread "
              f"{cpu['relay_thread_percent']:.1f} %, parec+pacat {cpu['clients_percent']:.1f} %", flush=True)
    return rows


def steps(server: SoundServer) -> list[dict]:
    rows = []
    for first, then in STEPS:
        change = 1.5
        points, _ = _run(server, first, then, settle_s=2.0, seconds=6.0, change_at_s=change)
        t = np.array([p[0] for p in points])
        lag = np.array([p[1] for p in points])
        after = t >= change
        within = [ti for ti, li in zip(t[after], lag[after]) if abs(li - then) < 2.0]
        settled = (within[0] - change) if within else None
        jumps = np.abs(np.diff(lag[t >= change - EVERY_S]))
        rows.append({"from_ms": first, "to_ms": then, "settled_within_2ms_after_s": settled,
                     "largest_change_between_chirps_ms": float(jumps.max()) if jumps.size else None,
                     "final_error_ms": float(lag[-1] - then),
                     "points": [(round(a, 2), round(b, 2)) for a, b in zip(t, lag)]})
        print(f"step {first:.0f} → {then:.0f} ms: within 2 ms after "
              f"{'-' if settled is None else f'{settled:.1f} s'}, largest change between chirps "
              f"{rows[-1]['largest_change_between_chirps_ms']:.1f} ms, final error "
              f"{rows[-1]['final_error_ms']:+.2f} ms", flush=True)
    return rows


def _versions() -> dict:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    return {"python": platform.python_version(), "numpy": np.__version__,
            "pulseaudio": (out(["pulseaudio", "--version"]) or "").replace("pulseaudio ", ""),
            "pactl": (out(["pactl", "--version"]) or "").replace("pactl ", "")}


def write_markdown(report: dict) -> str:
    o = report["options"]
    lines = [
        "# Lip-sync relay: measured delay",
        "",
        f"- date (UTC): {report['date']}",
        f"- machine: {report['machine']}",
        f"- load average (1, 5, 15 min) at start / end: {', '.join(map(str, report['load_start']))} / "
        f"{', '.join(map(str, report['load_end']))} (2 cores shared with other work)",
        f"- sound server: {report['server']}",
        f"- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"- relay options: {o['block_ms']:g} ms blocks, pacat buffer {o['out_latency_ms']:g} ms, "
        f"base {o['base_ms']:g} ms, at most {o['max_rate'] * 100:g} % speed change, "
        f"jump above {o['jump_ms']:g} ms",
        "- method: `benchmarks/realtime/audio_delay.py` (one stereo recording: microphone left, "
        "relayed copy right; each chirp's lag by cross-correlation)",
        "",
        "## Steady delay",
        "",
        "| requested ms (made) | chirps | mean error ms | sd ms | max abs error ms | base ms (lag − pipes) | first second: max abs error ms | CPU % relay thread / parec+pacat |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["steady"]:
        made = "" if r["made_ms"] == r["requested_ms"] else f" ({r['made_ms']:g})"
        lines.append(f"| {r['requested_ms']:g}{made} | {r['chirps']} | {r['mean_error_ms']:+.2f} | {r['sd_ms']:.2f} | "
                     f"{r['max_abs_error_ms']:.2f} | {r['base_ms']:.2f} | {r['first_second_max_abs_error_ms']:.2f} | "
                     f"{r['cpu']['relay_thread_percent']:.1f} / {r['cpu']['clients_percent']:.1f} |")
    lines += ["", "## Following a change of the request", "",
              "| from → to ms | within 2 ms after s | largest change between chirps 0.4 s apart ms | final error ms |",
              "|---|---|---|---|"]
    for r in report["steps"]:
        settled = "–" if r["settled_within_2ms_after_s"] is None else f"{r['settled_within_2ms_after_s']:.1f}"
        lines.append(f"| {r['from_ms']:g} → {r['to_ms']:g} | {settled} | "
                     f"{r['largest_change_between_chirps_ms']:.1f} | {r['final_error_ms']:+.2f} |")
    lines += ["", "Error = measured lag − the delay made (the request, or the floor when the request is "
              "below it), over chirps from 1 s after the player started "
              "(in the first second another stream joins the sink and the path's own delay moves by a "
              "few ms: last column). The smallest delay the relay makes is "
              f"{o['base_ms'] + o['min_fill_ms']:g} ms (base + the pipe's minimum fill). Increases of "
              "more than the jump threshold are made at once with silence (the 100 → 200 ms step), smaller changes by resampling at most "
              f"{o['max_rate'] * 100:g} % (at most {o['max_rate'] * EVERY_S * 1000:.0f} ms between "
              "chirps 0.4 s apart).", ""]
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--running", metavar="NAME", help="measure on the running server PULSE_SERVER names")
    args = parser.parse_args()
    reason = pulseaudio_missing()
    if reason and not args.running:
        sys.exit(reason)
    load_start = [round(v, 2) for v in os.getloadavg()]
    kind = RunningServer if args.running else SoundServer
    with tempfile.TemporaryDirectory() as folder, kind(Path(folder)) as server:
        if not args.running:
            server.apply()
        info = server.pactl("info").stdout
        name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                     if line.startswith("Server Name")), "?")
        server.name = name
        o = RelayOptions(base_ms=path_base_ms(name))
        report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "machine": f"{machine_line()} {platform.release()}",
                  "versions": _versions(), "server": name, "load_start": load_start,
                  "options": {k: getattr(o, k) for k in ("block_ms", "out_latency_ms", "base_ms",
                                                         "min_fill_ms", "max_rate", "jump_ms")},
                  "steady": steady(server), "steps": steps(server)}
    report["load_end"] = [round(v, 2) for v in os.getloadavg()]
    stem = f"audio_delay_{args.running}" if args.running else "audio_delay"
    (HERE / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (HERE / f"{stem}.md").write_text(write_markdown(report))
    print(f"wrote {HERE / (stem + '.md')}")


if __name__ == "__main__":
    main()
