"""Training options are declared once (``TrainOptions``): ``latentcam train`` and the torchrun
entry point are generated from it and agree with each other."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import typer

from latentcam.cli import build_app
from latentcam.latent.train_options import TrainOptions, cli_options, options_from_args, to_argv


def test_every_field_is_an_option_of_latentcam_train():
    command = typer.main.get_command(build_app()).commands["train"]
    names = {p.name for p in command.params}
    assert names == {f.name for f in fields(TrainOptions)} | {"nproc"}
    flags = {p.name: p.opts for p in command.params}
    assert flags["out_dir"] == ["--out"] and flags["learning_rate"] == ["--lr"]
    assert "--region-mix" in flags["region_mix"] and "--gan" in flags["gan"]


def test_torchrun_argv_round_trips_to_the_same_options():
    values = {"data_dir": Path("data"), "out_dir": Path("out"), "preset": "gpu", "steps": 12,
              "max_minutes": 1.5, "gan": True, "factorized": False, "learning_rate": 3e-4,
              "frames": "0:0.8", "w_kl": 0.01, "device": "cpu", "consent": "Anna, written",
              "progress": False}
    assert options_from_args(to_argv(values)) == TrainOptions(**values)
    assert options_from_args(["d", "--out", "o"]) == TrainOptions(Path("d"), Path("o"))   # defaults


def test_every_option_has_help():
    assert all(o.help for o in cli_options())


def test_train_help_does_not_import_torch():
    code = ("import sys; from latentcam.cli import build_app; build_app(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
