"""Live settings: frozen dataclasses → one TOML file → command-line flags (flags win).

``load_config(path)`` reads a TOML file whose tables mirror the dataclasses below; an unknown
key or a value of the wrong type is an error naming the key. ``apply_overrides`` applies the
flags the user actually typed (dotted keys, e.g. ``{"output.fps": 25}``), and ``save_config``
writes settings back (e.g. after the user toggled things live in the preview).
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from latentcam.facekit.errors import InputError
from latentcam.latent.onnx_session import PROVIDER_KEYS

from .audio_delay import AudioOptions
from .composite import CompositeOptions
from .label import LabelOptions
from .marking import SigningSettings, WatermarkSettings
from .pipeline import Schedule
from .presence import PresenceOptions
from .smoothing import SmoothingOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PIPELINE_MODES = ("auto", *(s.value for s in Schedule))   # auto: the bench's pick on this machine
RETARGET_MODES = ("relative", "absolute")
ENGINES = ("auto", "onnxruntime", "torch", "tensorrt", "tensorrt-rtx")


class ConfigError(InputError, ValueError):
    """A setting is unknown or invalid; the message names it."""


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' → (1280, 720)."""
    try:
        w, h = (int(v) for v in str(text).lower().replace("×", "x").split("x"))
    except ValueError:
        raise ConfigError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320) or w % 2 or h % 2:
        raise ConfigError(f"size {text!r}: width and height must be even and between 16 and 7680x4320")
    return w, h


@dataclass(frozen=True)
class SourceConfig:
    camera: int = 0                  # camera index (used when `clip` is empty)
    clip: str | None = None          # drive from a video file instead of a camera
    width: int = 640                 # camera mode to request
    height: int = 480
    fps: float = 30.0
    fourcc: str = "MJPG"
    paced: bool = True               # clip: deliver at its frame rate, like a webcam
    loop: bool = False               # clip: start over at the end

    def validate(self) -> None:
        if self.camera < 0:
            raise ConfigError("source.camera must be >= 0")
        if self.width < 16 or self.height < 16 or self.fps <= 0:
            raise ConfigError("source.width/height must be >= 16 and source.fps > 0")


@dataclass(frozen=True)
class OutputConfig:
    size: str = "1280x720"           # output frame size WIDTHxHEIGHT
    fps: float = 30.0                # output frame rate (virtual camera / recording)
    virtual_cam: bool = False        # publish to a virtual camera
    device: str | None = None        # virtual camera device (None = first available)
    preview: bool = False            # show a preview window with overlay and keys
    record: str | None = None        # write the output to this mp4
    mirror_preview: bool = True      # show the preview like a mirror (the output is never mirrored)

    def validate(self) -> None:
        parse_size(self.size)
        if not 1 <= self.fps <= 240:
            raise ConfigError(f"output.fps must be in 1..240; got {self.fps}")

    @property
    def width_height(self) -> tuple[int, int]:
        return parse_size(self.size)


@dataclass(frozen=True)
class EngineConfig:
    name: str = "auto"               # auto | onnxruntime | torch | tensorrt | tensorrt-rtx
    threads: int = 2                 # decoder CPU threads (ONNX Runtime / torch CPU)
    encoder_threads: int = 1         # expression encoder (ONNX Runtime) threads
    opencv_threads: int = 1          # cv2.setNumThreads for resize/warp/blend
    precision: str = "auto"          # auto | fp32 | fp16
    ort_provider: str = "auto"       # onnxruntime's execution provider: auto (the best one the installed
                                     # ONNX Runtime offers) | cpu | tensorrt | cuda | migraphx | rocm |
                                     # directml | coreml | openvino

    def validate(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"engine.name must be one of {', '.join(ENGINES)}; got {self.name!r}")
        if self.ort_provider not in PROVIDER_KEYS:
            raise ConfigError(f"engine.ort_provider must be one of {', '.join(PROVIDER_KEYS)}; "
                              f"got {self.ort_provider!r}")
        if self.precision not in ("auto", "fp32", "fp16"):
            raise ConfigError(f"engine.precision must be auto, fp32 or fp16; got {self.precision!r}")
        if self.threads < 1 or self.encoder_threads < 1 or self.opencv_threads < 0:
            raise ConfigError("engine.threads and engine.encoder_threads must be >= 1, "
                              "engine.opencv_threads >= 0 (0 = OpenCV serial)")


@dataclass(frozen=True)
class PipelineConfig:
    mode: str = "auto"               # serial | overlapped | auto (the bench's pick for this machine)
    track_fps: float = 0.0           # track at most this often (0 = every frame); renders at output.fps
    status_interval_s: float = 1.0   # status line period (0 = off)

    def validate(self) -> None:
        if self.mode not in PIPELINE_MODES:
            raise ConfigError(f"pipeline.mode must be one of {', '.join(PIPELINE_MODES)}; got {self.mode!r}")
        if self.track_fps < 0:
            raise ConfigError("pipeline.track_fps must be >= 0 (0 = track every frame)")


@dataclass(frozen=True)
class RetargetConfig:
    mode: str = "relative"           # relative (driver's change from its neutral) | absolute
    sensitivity: float | None = None # expression gain in (0, 10] (None = the profile's, else 1.0)
    mirror: bool = False             # swap the driver's left and right
    invert_yaw: bool = False         # turn the target's head the other way (left/right)
    invert_pitch: bool = False       # nod the other way (up/down)
    invert_roll: bool = False        # tilt the other way
    lower_face_rig: float = 1.0      # share of the lower face placed by the target's blendshape
                                     # rig (0 = landmark deltas only, as targets without a rig)

    def validate(self) -> None:
        if not (0.0 <= self.lower_face_rig <= 1.0):
            raise ConfigError(f"retarget.lower_face_rig must be in [0, 1]; got {self.lower_face_rig}")
        if self.mode not in RETARGET_MODES:
            raise ConfigError(f"retarget.mode must be one of {', '.join(RETARGET_MODES)}; got {self.mode!r}")
        if self.sensitivity is not None and not (0.0 < self.sensitivity <= 10.0):
            raise ConfigError(f"retarget.sensitivity must be in (0, 10]; got {self.sensitivity}")


@dataclass(frozen=True)
class LiveConfig:
    target: str | None = None        # target bundle folder (None = the embedded default)
    require_signed: bool = False     # refuse a target bundle without a signature (--require-signed)
    profile: str | None = None       # calibration profile JSON (None = self-calibrate)
    stats: str | None = None         # write telemetry JSON here at the end
    source: SourceConfig = field(default_factory=SourceConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    retarget: RetargetConfig = field(default_factory=RetargetConfig)
    composite: CompositeOptions = field(default_factory=CompositeOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    presence: PresenceOptions = field(default_factory=PresenceOptions)
    label: LabelOptions = field(default_factory=LabelOptions)
    watermark: WatermarkSettings = field(default_factory=WatermarkSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    audio: AudioOptions = field(default_factory=AudioOptions)

    def validate(self) -> "LiveConfig":
        for f in fields(self):
            value = getattr(self, f.name)
            if is_dataclass(value):
                try:
                    value.validate()
                except ConfigError:
                    raise
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
        try:
            self.watermark.check_size(*self.output.width_height)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return self


# --- conversion -------------------------------------------------------------------------------

def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} values; got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false; got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer; got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number; got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string; got {value!r}")
        return value
    if hint is Path:
        return Path(value)
    if is_dataclass(hint):
        return _build(hint, value, key)
    return value


def _build(cls, data: Any, prefix: str = ""):
    where = prefix or "the config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table of settings; got {data!r}")
    hints = _hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            dotted = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown setting {dotted!r}; known in {where}: {', '.join(sorted(known))}")
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _convert(value, hints[key], dotted)
    return cls(**kwargs)


def config_from_dict(data: dict) -> LiveConfig:
    return _build(LiveConfig, data).validate()


def load_config(path: Path | str) -> LiveConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def apply_overrides(config: LiveConfig, overrides: dict[str, Any]) -> LiveConfig:
    """Apply dotted-key overrides (the flags the user typed) and re-validate."""
    for dotted, value in overrides.items():
        config = _set(config, dotted.split("."), value, dotted)
    return config.validate()


def _set(obj, path: list[str], value: Any, dotted: str):
    name = path[0]
    known = {f.name for f in fields(obj)}
    if name not in known:
        raise ConfigError(f"unknown setting {dotted!r}")
    if len(path) == 1:
        return replace(obj, **{name: _convert(value, _hints(type(obj))[name], dotted)})
    return replace(obj, **{name: _set(getattr(obj, name), path[1:], value, dotted)})


def config_to_dict(config) -> dict:
    """Plain dict for TOML (None values are left out: TOML has no null, and absent = default)."""
    out = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            out[f.name] = config_to_dict(value)
        elif value is None:
            continue
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif isinstance(value, Path):
            out[f.name] = str(value)
        else:
            out[f.name] = value
    return out


def save_config(config: LiveConfig, path: Path | str) -> Path:
    import tomli_w

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("# latentcam live settings (flags given on the command line override these)\n"
                   + tomli_w.dumps(config_to_dict(config)), encoding="utf-8")
    tmp.replace(path)
    return path


def defaults_toml() -> str:
    import tomli_w
    return tomli_w.dumps(config_to_dict(LiveConfig()))


__all__ = ["ConfigError", "LiveConfig", "SourceConfig", "OutputConfig", "EngineConfig",
           "PipelineConfig", "RetargetConfig", "load_config", "save_config", "apply_overrides", "config_from_dict",
           "config_to_dict", "parse_size", "defaults_toml"]
