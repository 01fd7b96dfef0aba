"""Packaging facts the foundation promises."""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_exactly_one_installed_distribution_provides_cv2():
    providers = []
    for dist in md.distributions():
        files = dist.files or []
        if any(str(f).startswith("cv2/") and str(f).endswith("__init__.py") for f in files):
            providers.append(dist.metadata["Name"])
    assert providers == ["opencv-python"], providers


def test_torch_is_not_a_core_dependency_and_extras_exist():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "torch" not in core
    extras = project["optional-dependencies"]
    assert {"train", "tensorrt", "tensorrt-rtx", "dev"} <= set(extras)
    # ONNX Runtime builds for accelerators are named, never required (they replace onnxruntime)
    assert extras["ort-cuda"] == ["onnxruntime-gpu>=1.18"]
    assert extras["ort-directml"] == ["onnxruntime-directml>=1.18"]
    assert extras["ort-openvino"] == ["onnxruntime-openvino>=1.18"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert project["scripts"]["latentcam"] == "latentcam.cli:main"


def test_subpackages_install_under_latentcam():
    import latentcam.calibration
    import latentcam.engines
    import latentcam.facekit
    import latentcam.latent
    import latentcam.realtime

    for module, folder in ((latentcam.facekit, "facekit"), (latentcam.latent, "latent"),
                           (latentcam.engines, "engines"), (latentcam.calibration, "calibration"),
                           (latentcam.realtime, "realtime")):
        assert Path(module.__file__).resolve().parent == REPO / folder
