"""The machine's devices through NVML and psutil alone (no torch): GPUs, CPU, what it can train on."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import psutil

from engine.core.config import DeviceCaps


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    used_bytes: int
    utilization: int | None  # percent
    bf16: bool


@functools.lru_cache(maxsize=1)
def _nvml():
    """NVML, initialised once per process (None without an NVIDIA driver)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no driver, no library: a machine without NVIDIA GPUs
        return None


def gpus() -> list[GpuInfo]:
    """Every NVIDIA GPU NVML can see (respecting CUDA_VISIBLE_DEVICES when it lists indices)."""
    nv = _nvml()
    if nv is None:
        return []
    out = []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    indices = range(nv.nvmlDeviceGetCount())
    if visible is not None:
        wanted = [int(v) for v in visible.split(",") if v.strip().isdigit()]
        indices = [i for i in wanted if i in indices]
    for i in indices:
        h = nv.nvmlDeviceGetHandleByIndex(i)
        name = nv.nvmlDeviceGetName(h)
        name = name.decode() if isinstance(name, bytes) else name
        mem = nv.nvmlDeviceGetMemoryInfo(h)
        try:
            util = int(nv.nvmlDeviceGetUtilizationRates(h).gpu)
        except Exception:
            util = None
        try:
            major, _ = nv.nvmlDeviceGetCudaComputeCapability(h)
        except Exception:
            major = 0
        out.append(GpuInfo(i, name, int(mem.total), int(mem.used), util, major >= 8))
    return out


def device_caps() -> DeviceCaps:
    """What this machine can train on, without importing torch."""
    found = gpus()
    import platform

    mps = platform.system() == "Darwin" and platform.machine() == "arm64"
    return DeviceCaps(cuda_count=len(found), cuda_bf16=bool(found) and all(g.bf16 for g in found), mps=mps)


def process_rss() -> int:
    return psutil.Process().memory_info().rss


def cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
