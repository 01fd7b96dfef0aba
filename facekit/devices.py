"""Discovering cameras and virtual-camera (v4l2loopback) devices.

On Linux, video devices are listed in sysfs; v4l2loopback devices are "virtual" devices there.
On Windows/macOS there is no such listing, so cameras are probed by index with OpenCV.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

SYSFS_VIDEO = Path("/sys/class/video4linux")


@dataclass(frozen=True)
class VideoDevice:
    index: int
    name: str
    loopback: bool
    path: str


def list_video_devices() -> list[VideoDevice]:
    """Video devices known to the OS (Linux sysfs); empty elsewhere or when none exist."""
    if not sys.platform.startswith("linux") or not SYSFS_VIDEO.is_dir():
        return []
    found = []
    for entry in sorted(SYSFS_VIDEO.glob("video*")):
        suffix = entry.name[len("video"):]
        if not suffix.isdigit():
            continue
        name_file = entry / "name"
        name = name_file.read_text(errors="replace").strip() if name_file.is_file() else entry.name
        real = str(entry.resolve())
        loopback = "/virtual/" in real or "loopback" in name.lower()
        found.append(VideoDevice(int(suffix), name, loopback, f"/dev/{entry.name}"))
    return found


def is_loopback_device(index: int) -> bool:
    """True when camera ``index`` is a v4l2loopback device (Linux only; False elsewhere)."""
    return any(d.index == index and d.loopback for d in list_video_devices())


def probe_camera_modes(index: int, modes: tuple[tuple[int, int, float], ...] = (
        (640, 480, 30.0), (1280, 720, 30.0), (1920, 1080, 30.0))) -> list[tuple[int, int, float, str]]:
    """Ask camera ``index`` for each mode and return what it actually granted."""
    import cv2

    granted = []
    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return []
        for width, height, fps in modes:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
            ok, _ = cap.read()
            if ok:
                code = int(cap.get(cv2.CAP_PROP_FOURCC))
                fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
                mode = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                        float(cap.get(cv2.CAP_PROP_FPS)), fourcc)
                if mode not in granted:
                    granted.append(mode)
    finally:
        cap.release()
    return granted
