"""The multi-process training path: torchrun with 2 CPU processes (gloo), tiny model, few steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from latentcam.latent.bundle import TargetBundle


def test_ddp_two_cpu_processes(tmp_path, small_dataset):
    data = small_dataset
    out = tmp_path / "bundle"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "latentcam.latent.train", str(data), "--out", str(out), "--size", "64",
           "--steps", "6", "--batch-size", "4", "--threads", "1", "--device", "cpu",
           "--sample-every", "3", "--checkpoint-every", "3", "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("target bundle written") == 1          # only rank 0 writes
    bundle = TargetBundle.load(out)
    info = bundle.manifest["provenance"]["training"]
    assert info["processes"] == 2 and info["steps"] == 6
    state = json.loads((out / "training" / "checkpoint.json").read_text())
    assert state["step"] == 6
    assert sorted(p.name for p in (out / "training" / "samples").glob("*.png")) == [
        "step_000003.png", "step_000006.png"]
