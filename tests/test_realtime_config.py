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
