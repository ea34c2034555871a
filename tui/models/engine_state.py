"""What the engine bar says: is an engine alive, on which device, how many runs run and wait."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from engine.store import runs as st


@dataclass(frozen=True)
class EngineState:
    alive: bool = False
    pid: int = 0
    engines: int = 0
    device: str = ""
    slots: int = 0
    running: int = 0
    queued: int = 0
    note: str = ""  # "starting", "not started", or why it could not start

    def describe(self) -> str:
        if self.alive:
            many = f" (+{self.engines - 1} more)" if self.engines > 1 else ""
            return (
                f"engine ● pid {self.pid}{many} · {self.device} · {self.running}/{self.slots} running"
                f" · {self.queued} queued"
            )
        why = f" ({self.note})" if self.note else ""
        return f"engine ○ none{why} · {self.queued} queued"


@functools.cache
def gpu_names() -> dict[int, str]:
    """NVML's names for this machine's GPUs (asked once: they do not change under us)."""
    from engine.serve.devices import gpus

    return {g.index: g.name for g in gpus()}


def device_label(gpu_ids: list[int]) -> str:
    if not gpu_ids:
        return "CPU"
    names = gpu_names()
    first = names.get(gpu_ids[0], "GPU").removeprefix("NVIDIA ")
    return f"{len(gpu_ids)}× {first}" if len(gpu_ids) > 1 else first


def read_engine_state(store: st.Store, note: str = "") -> EngineState:
    from engine.serve import engines as eng  # psutil: imported by the thread that reads, not at start

    live = eng.live_engines(store)
    queued = len(store.list_queue())
    if not live:
        return EngineState(queued=queued, note=note)
    local = next((e for e in live if e.host == eng.this_host()), live[0])
    gpu_ids = local.record.gpus
    running = sum(len(e.record.running) for e in live)
    slots = sum(e.record.slots for e in live)
    return EngineState(
        alive=True,
        pid=local.pid,
        engines=len(live),
        device=device_label(gpu_ids),
        slots=slots,
        running=running,
        queued=queued,
    )
