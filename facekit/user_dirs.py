"""The user folders latentcam keeps files in (one helper, so every path agrees).

* cache  (``~/.cache/latentcam`` on Linux): built engines, the pipeline schedule choice —
  anything that can be rebuilt.
* config (``~/.config/latentcam``): the local signing identity.
* data   (``~/.local/share/latentcam``): the sample clips ``latentcam samples`` downloads.

``platformdirs`` picks the platform's convention (``%LOCALAPPDATA%\\latentcam`` on Windows,
``~/Library/...`` on macOS) and honours ``XDG_*_HOME`` on Linux (the tests point them at
temporary folders). Nothing is created here; callers create what they write.
"""

from __future__ import annotations

from pathlib import Path

APP_NAME = "latentcam"


def user_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def user_config_dir() -> Path:
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def user_data_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)
