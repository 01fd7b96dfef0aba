"""``latentcam doctor`` and ``latentcam devices``: what this machine has, and how to fix what it lacks."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys
from dataclasses import dataclass

import typer

V4L2_FIX = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=latentcam"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None   # None: optional and absent (not an error)
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_packages() -> list[Check]:
    checks = []
    required = ["numpy", "opencv-python", "mediapipe", "pyvirtualcam", "safetensors"]
    for dist in required:
        v = _version(dist)
        checks.append(Check(dist, v is not None, v or "not installed", "" if v else "pip install -e ."))
    checks.append(check_onnxruntime_package())
    cv2_providers = [d for d in ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                                 "opencv-contrib-python-headless") if _version(d)]
    checks.append(Check("one cv2 provider", len(cv2_providers) == 1, ", ".join(cv2_providers) or "none",
                        "" if len(cv2_providers) == 1 else
                        "keep only opencv-python: pip uninstall " + " ".join(d for d in cv2_providers if d != "opencv-python")))
    for dist, extra in (("torch", "train"), ("tensorrt", "tensorrt"), ("tensorrt-rtx", "tensorrt-rtx")):
        v = _version(dist) or (_version("tensorrt_rtx") if dist == "tensorrt-rtx" else None)
        checks.append(Check(f"{dist} (optional)", True if v else None, v or "not installed",
                            "" if v else f'pip install "latentcam[{extra}]"' + (
                                "  (full TensorRT comes from NVIDIA's index: "
                                "pip install --extra-index-url https://pypi.nvidia.com tensorrt)" if dist == "tensorrt" else "")))
    return checks


def check_onnxruntime_package() -> Check:
    """Exactly one ONNX Runtime package: onnxruntime or one of its accelerated builds (all install
    the same ``onnxruntime`` module, so two overwrite each other)."""
    from latentcam.latent.onnx_session import installed_ort_packages

    found = installed_ort_packages()
    detail = ", ".join(f"{d} {v}" for d, v in found) or "not installed"
    if not found:
        return Check("onnxruntime", False, detail, "pip install -e .")
    if len(found) > 1:
        keep = found[-1][0] if found[0][0] == "onnxruntime" else found[0][0]
        return Check("onnxruntime", False, detail + " (they overwrite each other)",
                     f"keep one: pip uninstall -y {' '.join(d for d, _ in found)} && pip install {keep}")
    return Check("onnxruntime", True, detail)


def check_face_model() -> Check:
    from latentcam.facekit.model_file import FACE_MODEL_PATH, ModelFileError, verify_face_model

    try:
        verify_face_model()
        return Check("face model", True, f"{FACE_MODEL_PATH.name} sha256 ok")
    except ModelFileError as exc:
        return Check("face model", False, str(exc), "reinstall latentcam")


def check_samples() -> Check:
    """The sample clips ``demo``, ``bench`` and ``prepare --photo`` use (downloaded only by
    ``latentcam samples``): where they are, or how to get them."""
    from latentcam.facekit import samples

    found = {name: samples.find_sample(name) for name in samples.USER_SAMPLES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        return Check("sample clips", None, f"not downloaded ({', '.join(missing)})",
                     samples.FETCH_HINT + "; demo/bench/prepare also take your own clips")
    folders = sorted({str(path.parent) for path in found.values()})
    return Check("sample clips", True, f"in {', '.join(folders)}")


def check_cameras() -> list[Check]:
    import cv2

    from latentcam.facekit.devices import list_video_devices

    devices = list_video_devices()
    physical = [d for d in devices if not d.loopback]
    loopback = [d for d in devices if d.loopback]
    checks = []
    if devices:
        cams = ", ".join(f"{d.index}: {d.name}" for d in physical) or "none"
        checks.append(Check("cameras", bool(physical), cams,
                            "" if physical else "connect a webcam, or drive from a clip with --source CLIP"))
    else:
        cap = cv2.VideoCapture(0)
        ok = cap.isOpened()
        cap.release()
        checks.append(Check("cameras", ok, "camera 0 opens" if ok else "no camera found",
                            "" if ok else "connect a webcam, or drive from a clip with --source CLIP"))
    if sys.platform.startswith("linux"):
        checks.append(Check("virtual camera", bool(loopback),
                            ", ".join(f"/dev/video{d.index}: {d.name}" for d in loopback) or "no v4l2loopback device",
                            "" if loopback else f"sudo apt install v4l2loopback-dkms && {V4L2_FIX}"))
    else:
        checks.append(Check("virtual camera", None, "install OBS Studio and start its Virtual Camera once",
                            "https://obsproject.com"))
    return checks


def check_sound_server() -> Check:
    """What ``live --delay-audio`` (lip sync, Linux) needs: pactl, parec and pacat, and a
    PulseAudio or PipeWire server that answers. Optional: absent is not a problem."""
    name = "sound server (--delay-audio)"
    if not sys.platform.startswith("linux"):
        return Check(name, None, "lip sync by a delayed microphone is Linux only",
                     "set the call app's audio delay, or OBS's Sync Offset, to the status line's latency")
    from latentcam.realtime import pulse

    missing = pulse.missing_tools()
    if missing:
        return Check(name, None, f"{', '.join(missing)} not installed", pulse.INSTALL_FIX)
    try:
        server = pulse.check_server()
    except pulse.SoundServerError as exc:
        return Check(name, None, f"no server answers: {exc}", pulse.START_FIX)
    return Check(name, True, f"{server.description}; default microphone {server.default_source or 'none'}")


def check_gpu() -> list[Check]:
    checks = []
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        cc = ".".join(map(str, torch.cuda.get_device_capability(0)))
        checks.append(Check("GPU", True, f"{name} (compute capability {cc})"))
    else:
        detail = "no CUDA GPU visible to torch" if torch is not None else "torch not installed (GPU check skipped)"
        checks.append(Check("GPU", None, detail + "; the onnxruntime CPU engine is used"))
    checks += check_ort_providers()
    return checks


def check_ort_providers() -> list[Check]:
    """The execution providers the installed ONNX Runtime offers, and the ones the onnxruntime
    engine tries with ``--ort-provider auto`` (in order; each checked against the CPU on warm-up)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return []
    from latentcam.latent.onnx_session import available_providers, provider_candidates

    offered = available_providers()
    tries, _ = provider_candidates("auto", offered)
    accelerated = len(tries) > 1
    return [Check("onnxruntime providers", True, ", ".join(offered)),
            Check("onnxruntime provider (auto)", True,
                  " → ".join(p.key for p in tries) + (f" ({tries[0].hardware} first)" if accelerated else ""),
                  "" if accelerated else
                  "for a GPU: `latentcam engines` names the ONNX Runtime package for it")]


def check_engines() -> list[Check]:
    """Every registered decoder backend: usable here, or why not (absent, not a problem)."""
    from latentcam.engines import availability

    return [Check(f"engine {name}", True if reason is None else None, reason or "available")
            for name, reason in availability().items()]


def run_checks() -> list[Check]:
    checks = [Check("system", True, f"{platform.system()} {platform.release()} {platform.machine()}"),
              Check("python", sys.version_info >= (3, 10), platform.python_version(),
                    "" if sys.version_info >= (3, 10) else "use Python 3.10 or newer")]
    checks += check_packages()
    checks.append(check_face_model())
    checks.append(check_samples())
    checks += check_cameras()
    checks.append(check_sound_server())
    checks += check_gpu()
    checks += check_engines()
    return checks


def doctor() -> None:
    """Check OS, Python, packages, the face model, cameras, virtual camera, sound server, GPU and engines."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    checks = run_checks()
    table = Table(title="latentcam doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    table.add_column("fix")
    for c in checks:
        status = {True: "[green]ok[/green]", False: "[red]problem[/red]", None: "[yellow]absent[/yellow]"}[c.ok]
        table.add_row(escape(c.name), status, escape(c.detail), escape(c.fix))
    console = Console()
    console.print(table)
    problems = [c for c in checks if c.ok is False]
    if problems:
        console.print(f"{len(problems)} problem(s): " + "; ".join(c.name for c in problems))
    else:
        console.print("No problems that stop `latentcam demo`.")


def devices() -> None:
    """List cameras and virtual-camera devices, with the modes cameras grant."""
    from rich.console import Console

    from latentcam.facekit.devices import list_video_devices, probe_camera_modes

    console = Console()
    found = list_video_devices()
    if not found:
        modes = probe_camera_modes(0)
        if modes:
            console.print("camera 0: " + ", ".join(f"{w}x{h}@{f:g} {c}" for w, h, f, c in modes))
        else:
            console.print("No cameras found. Connect a webcam, or drive latentcam from a clip with --source CLIP.")
        if sys.platform.startswith("linux"):
            console.print(f"No virtual-camera (v4l2loopback) device. Create one with: {V4L2_FIX}")
        return
    for d in found:
        if d.loopback:
            console.print(f"{d.path}  {d.name}  [cyan]virtual camera (v4l2loopback): latentcam writes here[/cyan]")
        else:
            modes = probe_camera_modes(d.index)
            text = ", ".join(f"{w}x{h}@{f:g} {c}" for w, h, f, c in modes) or "could not be opened"
            console.print(f"{d.path}  {d.name}  camera {d.index}: {text}")
    if sys.platform.startswith("linux") and not any(d.loopback for d in found):
        console.print(f"No virtual-camera device. Create one with: {V4L2_FIX}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("devices")(devices)
