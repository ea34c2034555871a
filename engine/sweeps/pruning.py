"""Early stopping of sweep trials at eval points: the median stopping rule and ASHA as pure
verdicts, and the Pruner a worker consults, reading the other trials' evals from the store. Light."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from typing import Any

from engine.core.errors import GptTuiError
from engine.core.fields import RunConfig
from engine.core.schedule import warmup_steps
from engine.store import runs as st
from engine.sweeps.spec import EarlyStopping


def median_verdict(value: float, step: int, others: list[float], n_startup: int) -> str | None:
    """Prune when this trial's val loss is worse than the median of the others' at the same step."""
    if len(others) < n_startup:
        return None
    median = statistics.median(others)
    if value > median:
        return (
            f"val loss {value:.4g} at step {step} is above the median {median:.4g} "
            f"of {len(others)} other trial{'s' if len(others) != 1 else ''}"
        )
    return None


def rung_steps(first: int, eta: int, eval_interval: int, max_iters: int) -> list[int]:
    """ASHA's rungs: first, first*eta, first*eta^2, ... each moved up to the next eval step,
    the run's last step excluded (a finished trial has nothing left to save)."""
    out: list[int] = []
    r = max(first, 1)
    while True:
        step = -(-r // eval_interval) * eval_interval
        if step >= max_iters:
            return out
        if not out or step > out[-1]:
            out.append(step)
        r *= eta


def asha_verdict(value: float, step: int, others: list[float], eta: int, n_startup: int, rung: int) -> str | None:
    """Keep the top 1/eta of the trials at this rung (this one included); with fewer than eta
    there, only the best goes on (Optuna's asynchronous successive halving does the same)."""
    if len(others) < n_startup:
        return None
    values = sorted([*others, value])
    keep = max(len(values) // eta, 1)
    cutoff = values[keep - 1]
    if value > cutoff:
        return (
            f"val loss {value:.4g} at step {step} (rung {rung}) is not in the top 1/{eta} of "
            f"{len(values)} trials (cut-off {cutoff:.4g})"
        )
    return None


def verdict(
    es: EarlyStopping,
    step: int,
    value: float,
    others: list[float],
    eval_interval: int,
    max_iters: int,
    warmup: int = 0,
) -> str | None:
    """Why this trial should stop at `step`, or None to let it go on.

    A trial is judged only once its own warmup (`warmup` steps) is over: until then its loss says
    more about how far its learning rate has ramped up than about its hyperparameters, and a long
    warmup that trails early can end best. ASHA's rungs stay the sweep's, the same steps for every
    trial, so a rung still compares trials at one budget; a trial passes the rungs inside its
    warmup unjudged, as if promoted, and is first judged at the next rung."""
    first = es.min_step or eval_interval
    if es.rule == "none" or step <= 0 or step < max(first, warmup) or step >= max_iters:
        return None
    if es.rule == "median":
        return median_verdict(value, step, others, es.n_startup)
    if es.rule == "asha":
        rungs = rung_steps(first, es.eta, eval_interval, max_iters)
        if step in rungs:
            return asha_verdict(value, step, others, es.eta, es.n_startup, rungs.index(step))
    return None


class Pruner:
    """Judges one trial at each of its evals against the sweep's other trials at the same step.

    The verdict is kept, and the trainer's should_stop returns it: the trainer checkpoints and
    raises StopRequested with it as the reason, and the worker ends the run `pruned`."""

    def __init__(
        self,
        store: st.Store,
        run_id: str,
        sweep_id: str,
        rule: EarlyStopping,
        eval_interval: int,
        max_iters: int,
        warmup: int = 0,
    ) -> None:
        self.store, self.run_id, self.sweep_id, self.rule = store, run_id, sweep_id, rule
        self.eval_interval, self.max_iters, self.warmup = eval_interval, max_iters, warmup
        self.reason: str | None = None
        self._tails: dict[str, st.LogTail] = {}
        self._evals: dict[str, dict[int, float]] = {}

    def others_at(self, step: int) -> list[float]:
        from engine.sweeps import files as sweep_files

        try:
            record = sweep_files.load(self.store, self.sweep_id)
        except (st.StoreError, ValueError):
            return []
        values = []
        for run_id in record.run_ids():
            if run_id == self.run_id:
                continue
            evals = self._read(run_id)
            if step in evals:
                values.append(evals[step])
        return values

    def _read(self, run_id: str) -> dict[int, float]:
        tail = self._tails.setdefault(run_id, st.LogTail(self.store.metrics_path(run_id)))
        evals = self._evals.setdefault(run_id, {})
        try:
            records = tail.poll()
        except st.StoreError:  # a FIFO or a runaway file where a sibling's log belongs: not a judge
            return evals
        if tail.reset:  # a resumed trial rewrote its log
            evals.clear()
        for r in st.evals(records):  # another trial's log: typed, and a non-finite loss is no judge
            if r.val_loss is not None and math.isfinite(r.val_loss):
                evals[r.step] = r.val_loss
        return evals

    def on_eval(self, record: dict[str, Any]) -> None:
        if self.reason is None:
            step, value = int(record["step"]), float(record["val_loss"])
            others = self.others_at(step)
            self.reason = verdict(self.rule, step, value, others, self.eval_interval, self.max_iters, self.warmup)

    def watch(self, events: Any) -> Any:
        """The trainer's Events with this pruner consulted after each eval record is written."""
        on_eval: Callable[[dict[str, Any]], None] = events.on_eval
        should_stop: Callable[[], str | None] = events.should_stop

        def on_eval_then_judge(record: dict[str, Any]) -> None:
            on_eval(record)
            self.on_eval(record)

        def should_stop_or_prune() -> str | None:
            return should_stop() or self.reason  # a signal or a stop request wins: they resume

        return dataclasses.replace(events, on_eval=on_eval_then_judge, should_stop=should_stop_or_prune)


def for_run(store: st.Store, run_id: str, status: st.Status, cfg: RunConfig) -> Pruner | None:
    """A Pruner for a sweep trial whose sweep stops early, judging it by its config's eval steps,
    length and warmup; None for every other run."""
    sweep_id = status.sweep
    if not sweep_id:
        return None
    from engine.sweeps import files as sweep_files

    try:
        spec = sweep_files.load(store, str(sweep_id)).spec
    except (GptTuiError, ValueError):
        return None  # a sweep file gone or broken never stops a run
    if spec.early_stopping.rule == "none":
        return None
    rule = spec.early_stopping
    return Pruner(store, run_id, str(sweep_id), rule, cfg.eval_interval, cfg.max_iters, warmup_steps(cfg))
