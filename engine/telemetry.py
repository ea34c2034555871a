"""GPU and CPU memory and utilisation readings, and what the machine can do.

Light at import: torch is imported only inside the functions that need a live torch device,
so the CLI and TUI can ask about GPUs through NVML alone.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import psutil

from engine.config import DeviceCaps


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


def memory_reading(device_type: str, device_index: int = 0) -> dict[str, int]:
    """Memory for a [[train]] record: CUDA allocator and NVML on GPU, the process RSS on CPU."""
    if device_type != "cuda":
        return {"mem_rss": process_rss()}
    import torch
    out = {
        "mem_allocated": int(torch.cuda.memory_allocated(device_index)),
        "mem_reserved": int(torch.cuda.memory_reserved(device_index)),
        "mem_peak": int(torch.cuda.max_memory_allocated(device_index)),
    }
    nv = _nvml()
    if nv is not None:
        try:
            bus = torch.cuda.get_device_properties(device_index)
            h = nv.nvmlDeviceGetHandleByPciBusId(f"{bus.pci_domain_id:08x}:{bus.pci_bus_id:02x}:{bus.pci_device_id:02x}.0")
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            out["mem_device_total"] = int(mem.total)
            out["mem_device_used"] = int(mem.used)
        except Exception:
            free, total = torch.cuda.mem_get_info(device_index)
            out["mem_device_total"] = int(total)
            out["mem_device_used"] = int(total - free)
    return out


def device_name(device_type: str, device_index: int = 0) -> str:
    if device_type == "cuda":
        import torch
        return torch.cuda.get_device_name(device_index)
    if device_type == "mps":
        return "Apple GPU (mps)"
    return cpu_name()
