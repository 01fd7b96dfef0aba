"""Live configuration: TOML → dataclasses → flags; unknown keys and bad values are named."""

from __future__ import annotations

import pytest

from latentcam.realtime.config import (
    ConfigError, LiveConfig, apply_overrides, config_from_dict, load_config, parse_size,
    save_config,
)


def test_toml_round_trip_and_flags_win(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text(
        'target = "my_target"\n'
        "[output]\nsize = \"640x360\"\nfps = 25\nvirtual_cam = true\n"
        "[smoothing]\nlandmark_min_cutoff = 0.8\n"
        "[label]\nposition = \"top-left\"\nopacity = 0.5\n"
        "[composite]\nmode = \"paste\"\nscale_range = [0.8, 1.2]\n")
    cfg = load_config(path)
    assert cfg.target == "my_target"
    assert cfg.output.width_height == (640, 360) and cfg.output.fps == 25.0
    assert cfg.output.virtual_cam is True
    assert cfg.smoothing.landmark_min_cutoff == 0.8
    assert cfg.composite.scale_range == (0.8, 1.2)
    cfg2 = apply_overrides(cfg, {"output.fps": 30.0, "label.position": "bottom-left"})
    assert cfg2.output.fps == 30.0 and cfg2.label.position == "bottom-left"
    assert cfg2.output.size == "640x360"  # untouched settings keep the file's values
    saved = save_config(cfg2, tmp_path / "saved.toml")
    assert load_config(saved) == cfg2


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[smoothing]\nmin_cuttoff = 1.0\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'smoothing.min_cuttoff'"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        config_from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="unknown setting 'output.nope'"):
        apply_overrides(LiveConfig(), {"output.nope": 1})


@pytest.mark.parametrize("data, message", [
    ({"output": {"fps": "fast"}}, "output.fps must be a number"),
    ({"output": {"virtual_cam": 1}}, "output.virtual_cam must be true or false"),
    ({"output": {"size": "big"}}, "WIDTHxHEIGHT"),
    ({"label": {"position": "middle"}}, "label.position must be one of"),
    ({"label": {"opacity": 0.0}}, "--no-label"),
    ({"composite": {"mode": "collage"}}, "composite.mode must be one of portrait, paste"),
    ({"pipeline": {"mode": "parallel"}}, "pipeline.mode must be one of"),
    ({"engine": {"name": "cuda"}}, "engine.name must be one of"),
    ({"engine": {"ort_provider": "metal"}}, "engine.ort_provider must be one of auto, tensorrt, cuda"),
    ({"smoothing": {"landmark_min_cutoff": -1.0}}, "smoothing.landmark_min_cutoff must be > 0"),
    ({"source": "camera"}, "source must be a table"),
])
def test_invalid_values_are_explained(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_invalid_toml_syntax(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[output\nfps = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_parse_size():
    assert parse_size("1280x720") == (1280, 720)
    with pytest.raises(ConfigError):
        parse_size("1281x720")


def test_live_changes_are_saved_back(tmp_path):
    from latentcam.realtime.overlay import apply_key
    from latentcam.realtime.session import config_with_controls, controls_from

    cfg = LiveConfig()
    controls = controls_from(cfg)
    for key in (ord("m"), ord("L"), ord("s"), ord("f")):
        apply_key(controls, key)
    assert controls.changed and controls.mode == "paste" and not controls.label
    assert apply_key(controls, ord("c")) == "recalibrate" and controls.recalibrate
    assert apply_key(controls, ord("r")) == "reveal" and controls.reveal
    assert apply_key(controls, ord("x")) is None
    path = save_config(config_with_controls(cfg, controls), tmp_path / "live.toml")
    saved = load_config(path)
    assert saved.composite.mode == "paste" and saved.label.enabled is False
    assert saved.smoothing.enabled is False and saved.output.mirror_preview is False
    apply_key(controls, 27)
    assert controls.quit


def test_retarget_table_parses_and_round_trips(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text('[retarget]\nmode = "absolute"\nsensitivity = 1.5\nmirror = true\n'
                    "invert_yaw = true\ninvert_roll = true\n")
    cfg = load_config(path)
    r = cfg.retarget
    assert r.mode == "absolute" and r.sensitivity == 1.5 and r.mirror is True
    assert r.invert_yaw is True and r.invert_pitch is False and r.invert_roll is True
    assert LiveConfig().retarget.mode == "relative" and LiveConfig().retarget.sensitivity is None
    assert load_config(save_config(cfg, tmp_path / "saved.toml")) == cfg


@pytest.mark.parametrize("data, message", [
    ({"retarget": {"mirrror": True}}, r"unknown setting 'retarget.mirrror'"),
    ({"retarget": {"mode": "sideways"}}, "retarget.mode must be one of relative, absolute"),
    ({"retarget": {"sensitivity": 0.0}}, r"retarget.sensitivity must be in \(0, 10\]"),
    ({"retarget": {"sensitivity": 11}}, r"retarget.sensitivity must be in \(0, 10\]"),
    ({"retarget": {"sensitivity": "high"}}, "retarget.sensitivity must be a number"),
    ({"retarget": {"mirror": "yes"}}, "retarget.mirror must be true or false"),
])
def test_bad_retarget_settings_are_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_retarget_flags_override_the_toml(tmp_path, monkeypatch):
    """The flags of `latentcam live` as typed (in-process; the run itself is stubbed out)."""
    import typer
    from typer.testing import CliRunner

    from latentcam.realtime import commands

    path = tmp_path / "live.toml"
    path.write_text('[retarget]\nmode = "absolute"\nsensitivity = 2.0\ninvert_pitch = true\n')
    seen = {}

    def fake_run(cfg, **kw):
        seen["cfg"] = cfg
        raise RuntimeError("stop here")

    monkeypatch.setattr(commands, "_run", fake_run)
    from latentcam.cli import build_app

    app = build_app()
    runner = CliRunner()

    runner.invoke(app, ["live", "--config", str(path)])
    r = seen.pop("cfg").retarget          # the file alone
    assert (r.mode, r.sensitivity, r.mirror, r.invert_pitch) == ("absolute", 2.0, False, True)

    runner.invoke(app, ["live", "--config", str(path), "--retarget-mode", "relative",
                        "--sensitivity", "0.5", "--mirror-face", "--invert-yaw", "--invert-roll"])
    r = seen.pop("cfg").retarget          # flags win; untouched settings keep the file's values
    assert (r.mode, r.sensitivity, r.mirror) == ("relative", 0.5, True)
    assert r.invert_yaw and r.invert_pitch and r.invert_roll

    result = runner.invoke(app, ["live", "--retarget-mode", "sideways"])
    assert result.exit_code == 2 and "cfg" not in seen
