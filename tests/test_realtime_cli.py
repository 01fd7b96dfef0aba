"""`latentcam live` / `demo` as a user runs them (subprocesses): Ctrl-C leaves a playable
recording; the demo writes driver | output side by side; errors carry their fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from support.processes import interrupt_when

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "latentcam"]


@pytest.fixture(scope="module")
def target_dir(live_target):
    return live_target


def _count_frames(path: Path) -> tuple[int, tuple[int, int] | None]:
    cap = cv2.VideoCapture(str(path))
    n, shape = 0, None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        shape = img.shape[:2]
    cap.release()
    return n, shape


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_sigint_finalises_the_recording(tmp_path, target_dir, single_face_clip):
    out = tmp_path / "rec.mp4"
    stats = tmp_path / "stats.json"
    proc = subprocess.Popen(
        CLI + ["live", "--target", str(target_dir), "--source", str(single_face_clip), "--loop",
               "--paced", "--engine", "onnxruntime", "--record", str(out), "--size", "640x360",
               "--stats", str(stats)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = interrupt_when(proc, lambda: out.exists() and out.stat().st_size >= 20_000, ready_within_s=90,
                         then_run_s=1.0)
    assert "stopping" in err
    n, shape = _count_frames(out)
    assert n > 10 and shape == (360, 640)
    assert stats.is_file() and '"e2e_ms"' in stats.read_text()


# Runs the CLI with torch made unimportable: the live CPU path must not need it.
NO_TORCH = [sys.executable, "-c",
            "import sys; sys.modules['torch'] = None; from latentcam.cli import main; "
            "sys.argv = ['latentcam'] + sys.argv[1:]; main()"]


def test_demo_writes_side_by_side_video_and_summary_without_torch(tmp_path, target_dir,
                                                                  single_face_clip):
    out = tmp_path / "demo.mp4"
    env = {**os.environ}
    r = subprocess.run(NO_TORCH + ["demo", "--out", str(out), "--target", str(target_dir), "--clip",
                                   str(single_face_clip), "--engine", "auto", "--size", "640x360"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    n, shape = _count_frames(out)
    assert n == 72 and shape == (360, 1280)            # driver | output
    assert "end-to-end latency" in r.stdout and "p99" in r.stdout


def test_live_errors_say_what_to_do(tmp_path, target_dir, single_face_clip):
    bad = tmp_path / "bad.toml"
    bad.write_text("[output]\nframerate = 30\n")
    r = subprocess.run(CLI + ["live", "--config", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown setting 'output.framerate'" in r.stderr
    r = subprocess.run(CLI + ["live", "--target", str(target_dir), "--source", str(single_face_clip),
                              "--engine", "onnxruntime", "--virtual-cam", "--max-frames", "5"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        pytest.skip("this machine has a virtual camera device")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "v4l2loopback" in r.stderr or "OBS" in r.stderr
    r = subprocess.run(CLI + ["demo", "--clip", str(tmp_path / "none.mp4")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "none.mp4" in r.stderr and "Traceback" not in r.stderr
