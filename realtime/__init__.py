"""The live loop: pipeline and threads, smoothing, compositing, presence, label, sinks,
telemetry, bench, and the ``live`` / ``demo`` / ``bench`` commands.

``run_live(LiveConfig)`` opens everything (source, stages, sinks), runs and closes it again;
``LivePipeline`` is the loop itself for callers that build their own stages.
"""

from .config import ConfigError, LiveConfig, apply_overrides, load_config, save_config
from .pipeline import LivePipeline, PipelineOptions, SinkBinding, Stages
from .session import run_live
from .sinks import SinkError, SinkOptions, open_sink
from .telemetry import Telemetry

__all__ = [
    "ConfigError", "LiveConfig", "apply_overrides", "load_config", "save_config", "LivePipeline",
    "PipelineOptions", "SinkBinding", "Stages", "run_live", "SinkError", "SinkOptions",
    "open_sink", "Telemetry",
]
