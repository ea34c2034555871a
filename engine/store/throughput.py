"""What this machine has measured: the speed of its earlier finished runs, which turns a config's
FLOPs into a time estimate that holds from one run to the next. Light: reads results.toml and configs.

Each finished run is taken apart: its steps (its FLOPs, evaluations included, at its own median step
rate) and the rest of its time, its start-up (imports, data, model, checkpoints). The estimate is the
median of each over the latest runs on one device, so that one odd run (a tiny model that reaches few
FLOP/s, a run slowed by another) moves neither."""

from __future__ import annotations

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
    flops_per_s: float  # the median of the runs' FLOP/s in their steps
    startup_s: float  # the median of their start-ups: what their FLOPs do not account for
    runs: int
    device: str
    host: str

    def describe(self) -> str:
        return (
            f"{flops_text(self.flops_per_s)} and {est.human_seconds(self.startup_s)} of "
            f"start-up per run, the median of {self.runs} earlier run{'s' if self.runs != 1 else ''} "
            f"on {self.device or 'this machine'} here"
        )


@dataclass(frozen=True)
class RunTiming:
    """One finished run, taken apart: where it ran, its FLOP/s in its steps, its start-up."""

    device: str
    flops_per_s: float
    startup_s: float


def flops_text(x: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}FLOP/s"
    return f"{x:.3g} FLOP/s"


def measured(store: st.Store, host: str | None = None, device: str | None = None) -> Measured | None:
    """The medians of the latest finished runs on this host, on `device` (by default the device of
    the newest one); None before any."""
    host = host or this_host()
    found: list[RunTiming] = []
    for row in reversed(st.read_results(store)):
        timing = run_timing(store, row, host)
        if timing is None:
            continue
        device = device or timing.device
        if timing.device != device:
            continue
        found.append(timing)
        if len(found) >= RECENT_RUNS:
            break
    if not found:
        return None
    return Measured(
        statistics.median(t.flops_per_s for t in found),
        statistics.median(t.startup_s for t in found),
        len(found),
        found[0].device,
        host,
    )


def run_timing(store: st.Store, row: st.ResultRow, host: str) -> RunTiming | None:
    """A results.toml row taken apart, or None when it cannot be (another host's run, a deleted run,
    a row without a rate)."""
    rate, wall = row.tokens_per_s, row.duration_s  # typed: finite numbers from 0, or None
    if not rate:
        return None
    try:
        status = store.status(row.run)
        cfg = cfgmod.from_mapping(read_config(store, row.run))
    except (st.StoreError, cfgmod.ConfigError):
        return None
    vocab = status.vocab_size
    if status.host != host or not vocab:
        return None
    flops_per_s = rate * est.flops_per_token(cfg, vocab)
    steps_s = run_flops(cfg, vocab) / flops_per_s  # at this run's own rate, not the median's
    startup = max(0.0, wall - steps_s) if wall else 0.0
    return RunTiming(row.device or "", flops_per_s, startup)


def run_flops(c: cfgmod.RunConfig, vocab_size: int) -> float:
    """Training FLOPs of the whole run plus its evaluations (forward only: a third of a step's)."""
    fpt = est.flops_per_token(c, vocab_size)
    evals = (c.max_iters // c.eval_interval + 1) * c.eval_iters * 2 * c.batch_size * c.block_size
    return fpt * (c.max_iters * est.tokens_per_iter(c) + evals / 3)


def seconds(c: cfgmod.RunConfig, vocab_size: int, m: Measured) -> float:
    return run_flops(c, vocab_size) / m.flops_per_s + m.startup_s
