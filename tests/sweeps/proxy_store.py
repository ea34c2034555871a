"""Finished sweeps written straight into a store, no engine: a µP proxy sweep (its trials at n_embd 32
for a base of 64) and the same grid trained in SP, each with its sweep file and two done trials."""

from __future__ import annotations

from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from tests.tui_store import SWEEP_BASE, add_sweep

FULL = {**SWEEP_BASE, "n_layer": 1}  # 1 x 64, n_head 4
AT_PROXY = {**FULL, "n_embd": 32, "parametrization": "mup", "mup_base_width": 32}
BEST_LR = 3e-3  # t002's: the lower final val loss


def trials(sweep: str, day: str) -> dict:
    def done(loss: float, ppl: float) -> dict:
        return dict(best_val_loss=loss, final_val_loss=loss, final_val_ppl=ppl, tokens=96_000.0, train_seconds=12.0)

    return {
        f"2026010{day}-090000-000-{sweep}-t001-{day}a01": ({"learning_rate": 1e-3, "min_lr": 1e-4}, done(2.2, 9.03)),
        f"2026010{day}-091000-000-{sweep}-t002-{day}b02": ({"learning_rate": BEST_LR, "min_lr": 3e-4}, done(1.9, 6.69)),
    }


def add_grid(store: st.Store, sweep: str, proxy: bool, day: str = "3") -> list[str]:
    """A finished grid over learning_rate: a µP proxy at n_embd 32, or (proxy off) the base in SP."""
    runs = add_sweep(store, trials(sweep, day), sweep=sweep, base=AT_PROXY if proxy else FULL)
    spec = sw.SweepSpec(
        id=sweep,
        method="grid",
        base=dict(FULL),
        params={"learning_rate": Choice((1e-3, BEST_LR))},
        proxy={"n_embd": 32} if proxy else {},
    )
    entries = [
        {"number": i, "run": r, "params": {"learning_rate": lr}}
        for i, (r, lr) in enumerate(zip(runs, (1e-3, BEST_LR)), 1)
    ]
    sf.save(store, sf.SweepRecord(spec, f"2026-01-0{day}T08:00:00.000Z", runs=entries))
    return runs
