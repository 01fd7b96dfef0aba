"""The bench's numbers must be internally consistent (not timed: no speed thresholds here)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from latentcam.realtime.bench import BenchOptions, best_lag, markdown, run_bench


@pytest.fixture(scope="module")
def report(tmp_path_factory, single_face_clip, live_target):
    target = live_target
    out = tmp_path_factory.mktemp("bench")
    opts = BenchOptions(clip=single_face_clip, out_dir=out, target=str(target), engines=("onnxruntime",),
                        frames=40, input_size=(640, 480), output_size=(640, 360), lag=False,
                        record_choice=False)
    return run_bench(opts, log=lambda m: None), out


def test_bench_writes_json_png_markdown(report):
    rep, out = report
    data = json.loads((out / "bench.json").read_text())
    assert set(data["runs"]) == {
        "passthrough/serial/paced", "passthrough/serial/fast", "onnxruntime/serial/paced",
        "onnxruntime/serial/fast", "onnxruntime/overlapped/paced", "onnxruntime/overlapped/fast"}
    assert (out / "bench.png").stat().st_size > 10_000
    md = (out / "bench.md").read_text()
    assert f"{data['machine']['cpu']}, {os.cpu_count()} logical cores" in md   # the real machine
    assert markdown(data) == md              # the notes are regenerated from the result file
    assert "onnxruntime" in md and "Audio delay" in md
    assert data["schedule_choice"]["mode"] in ("serial", "overlapped")
    assert data["machine"]["versions"]["onnxruntime"]


def test_serial_e2e_is_at_least_the_sum_of_its_stages(report):
    rep, _ = report
    for key, run in rep["runs"].items():
        if "/serial/" in key:
            # e2e is measured (capture stamp → sink return), the stages are timed inside it.
            assert run["e2e_minus_stage_sum_min_ms"] >= -0.01, key


def test_passthrough_is_cheaper_than_the_pipeline(report):
    rep, _ = report
    runs = rep["runs"]
    for pacing in ("paced", "fast"):
        base = runs[f"passthrough/serial/{pacing}"]["e2e_ms"]["p50"]
        full = runs[f"onnxruntime/serial/{pacing}"]["e2e_ms"]["p50"]
        assert base <= full
    fast = runs["onnxruntime/serial/fast"]
    assert fast["frames"] == 40 and fast["dropped"] == 0      # lossless: every frame
    assert runs["passthrough/serial/fast"]["fps"] >= fast["fps"]
    paced = runs["onnxruntime/serial/paced"]
    # every offered frame is either sent or counted as dropped somewhere on the way
    assert paced["frames"] + paced["dropped"] + paced["source_dropped"] == paced["offered_frames"] == 40
    assert paced["stages_ms"]["decode"]["p50"] > 0 and paced["stages_ms"]["track"]["p50"] > 0


def test_best_lag_finds_a_known_shift():
    rng = np.random.default_rng(0)
    driver = np.convolve(rng.standard_normal(200), np.ones(5) / 5, mode="same")
    output = np.roll(driver, 3)
    output[:3] = 0
    lag, r = best_lag(driver, output)
    assert lag == 3 and r > 0.95
    assert best_lag(np.zeros(200), output) == (None, None)     # a flat signal is no measurement


def test_bench_writes_through_the_virtual_camera_stand_in_and_says_what_e2e_leaves_out(report):
    rep, out = report
    data = json.loads((out / "bench.json").read_text())
    assert "pyvirtualcam" in data["sink"] and "I420" in data["sink"]
    md = (out / "bench.md").read_text()
    assert "leaves out" in md and "camera's own latency" in md
    # the stand-in converts and copies every frame: the sink stage costs something measurable
    assert all(r["stages_ms"]["sink"]["p50"] > 0.0 for r in data["runs"].values())
    assert "load average" in md and ("quiet" in md or "busy" in md or "some other load" in md)


def test_pipeline_notes_are_written_from_the_result_file(report, tmp_path):
    import importlib.util
    import shutil
    from pathlib import Path

    _, out = report
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "pipeline" / "write_notes.py"
    spec = importlib.util.spec_from_file_location("write_notes", script)
    notes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notes)
    shutil.copy(out / "bench.json", tmp_path / "bench.json")
    (tmp_path / "README.md").write_text(f"# notes\n\n{notes.BEGIN}\nstale numbers\n{notes.END}\n\nmore text\n")
    assert notes.main(["--dir", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    data = json.loads((out / "bench.json").read_text())
    serial = data["runs"]["onnxruntime/serial/paced"]["e2e_ms"]["p50"]
    assert "stale numbers" not in text and f"| serial | {serial:.1f} ms |" in text and text.endswith("more text\n")
    assert (tmp_path / "bench.md").read_text() == markdown(data)
