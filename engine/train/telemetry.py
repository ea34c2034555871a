"""Memory readings of a live torch device, for the [[train]] records and the status."""

from __future__ import annotations

from engine.serve.devices import _nvml, cpu_name, process_rss


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
            h = nv.nvmlDeviceGetHandleByPciBusId(
                f"{bus.pci_domain_id:08x}:{bus.pci_bus_id:02x}:{bus.pci_device_id:02x}.0"
            )
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
