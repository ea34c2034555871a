"""What this machine has measured: the FLOP/s of its earlier finished runs, which turns a config's
FLOPs into an honest time estimate (evaluations included). Light: reads results.toml and configs."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.hosts import this_host
from engine.store import runs as st
from engine.store.table import read_config

RECENT_RUNS = 10


@dataclass(frozen=True)
class Measured:
    flops_per_s: float
    overhead_s: float  # per run: start-up, data, checkpoints — what FLOPs do not account for
    runs: int
    device: str
    host: str

    def describe(self) -> str:
        return (
            f"{flops_text(self.flops_per_s)} and {est.human_seconds(self.overhead_s)} of "
            f"start-up per run, measured by {self.runs} earlier run{'s' if self.runs != 1 else ''} "
            f"on {self.device or 'this machine'} here"
        )


def flops_text(x: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}FLOP/s"
    return f"{x:.3g} FLOP/s"


def measured(store: st.Store, host: str | None = None) -> Measured | None:
    """The median FLOP/s of the latest finished runs on this host's most recently used device."""
    host = host or this_host()
    found: list[tuple[str, float, float, float]] = []  # device, FLOP/s, run FLOPs, wall seconds
    for row in reversed(st.read_results(store)):
        rate, run_id = row.get("tokens_per_s"), str(row.get("run", ""))
        if type(rate) not in (int, float) or not 0 < rate < math.inf:  # a row anyone may have edited
            continue
        try:
            status = store.status(run_id)
            cfg = cfgmod.from_mapping(read_config(store, run_id))
        except (st.StoreError, cfgmod.ConfigError):
            continue  # deleted or unreadable: it cannot be scaled
        vocab = status.vocab_size
        if status.host != host or not vocab:
            continue
        device = str(row.get("device", ""))
        if found and device != found[0][0]:
            continue
        wall = row.get("duration_s") if isinstance(row.get("duration_s"), (int, float)) else 0.0
        found.append((device, rate * est.flops_per_token(cfg, vocab), run_flops(cfg, vocab), float(wall)))
        if len(found) >= RECENT_RUNS:
            break
    if not found:
        return None
    rate = statistics.median(f for _, f, _, _ in found)
    overhead = statistics.median(max(0.0, wall - flops / rate) for _, _, flops, wall in found)
    return Measured(rate, overhead, len(found), found[0][0], host)


def run_flops(c: cfgmod.RunConfig, vocab_size: int) -> float:
    """Training FLOPs of the whole run plus its evaluations (forward only: a third of a step's)."""
    fpt = est.flops_per_token(c, vocab_size)
    evals = (c.max_iters // c.eval_interval + 1) * c.eval_iters * 2 * c.batch_size * c.block_size
    return fpt * (c.max_iters * est.tokens_per_iter(c) + evals / 3)


def seconds(c: cfgmod.RunConfig, vocab_size: int, m: Measured) -> float:
    return run_flops(c, vocab_size) / m.flops_per_s + m.overhead_s
