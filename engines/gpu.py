"""NVIDIA GPU discovery without torch: cuda-python when installed, else ``nvidia-smi``."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    major: int
    minor: int
    memory_bytes: int

    @property
    def sm(self) -> str:
        """Compute capability as an architecture name, e.g. ``sm_86``."""
        return f"sm_{self.major}{self.minor}"


def cudart():
    """The CUDA runtime bindings of cuda-python (new and old module layouts), or None."""
    try:
        from cuda.bindings import runtime
        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart as runtime  # cuda-python < 12.6
        return runtime
    except ImportError:
        return None


def cuda_devices() -> list[GpuInfo]:
    """Every visible NVIDIA GPU; empty when there is none (or no driver)."""
    rt = cudart()
    if rt is not None:
        err, count = rt.cudaGetDeviceCount()
        if int(err) != 0:
            return []
        out = []
        for i in range(count):
            err, prop = rt.cudaGetDeviceProperties(i)
            if int(err) == 0:
                name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
                out.append(GpuInfo(i, name.strip("\x00 "), prop.major, prop.minor, int(prop.totalGlobalMem)))
        return out
    return _nvidia_smi_devices()


def _nvidia_smi_devices() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        res = subprocess.run([exe, "--query-gpu=index,name,compute_cap,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    if res.returncode != 0:
        return []
    out = []
    for line in res.stdout.strip().splitlines():
        try:
            idx, name, cap, mem = (p.strip() for p in line.split(","))
            major, minor = cap.split(".")
            out.append(GpuInfo(int(idx), name, int(major), int(minor), int(float(mem)) * 2**20))
        except ValueError:
            continue
    return out
