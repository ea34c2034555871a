"""Where this process stands in a torchrun (DDP) job, and the few collectives the loop needs.

A plain `python -m engine.worker` is a job of one: every collective is then a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes to the store: logs, status, checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world
        return t

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is true on one: a decision all ranks take at the same step."""
        if not self.enabled:
            return flag
        t = torch.tensor(int(flag), device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


def from_env() -> Dist:
    """torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a job of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)


def init(d: Dist, device_type: str) -> None:
    """torchrun's ranks meet through its store (env://); engine.launch's through a file."""
    if d.enabled and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device_type == "cuda" else "gloo",
            init_method=os.environ.get("GPT_TUI_DIST_INIT", "env://"),
            rank=d.rank,
            world_size=d.world,
        )


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
