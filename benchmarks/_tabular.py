"""Search methods replayed over a table of trained grid points (a tabular benchmark): random, TPE
and early stopping as the engine runs them one trial at a time, with compute counted in FLOPs.

Nothing here trains. Each point of the table was trained once for real (benchmarks/search_bench.py);
a method's trial looks its point up. Random draws with engine.sweeps.plan.random_draw, TPE proposes
with engine.sweeps.tpe.propose (the study rebuilt from the trials so far, as the engine's driver
does), and early stopping replays the point's eval curve through engine.sweeps.pruning.verdict
against the trials before it (with the point's warmup, as the worker's Pruner has it from the
run's config): a pruned trial stops at that eval and pays only for its steps. With
one trial in flight (the engine's default, --parallel 1) and training that is deterministic for a
config, this is what a real sweep over the same space would have trained.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.store.schema import RunState
from engine.sweeps import plan, pruning, tpe
from engine.sweeps.distributions import Distribution
from engine.sweeps.spec import EarlyStopping, SweepSpec


@dataclass(frozen=True)
class Point:
    """One trained grid point: its final val loss (None when the run did not finish), the val loss
    at each eval step, the steps it ran, the training FLOPs of one step and its warmup's steps
    (engine.core.schedule.warmup_steps of its config, which the Pruner judges it by)."""

    final: float | None
    evals: dict[int, float]
    steps_run: int
    max_iters: int
    flops_per_step: float
    warmup: int = 0

    @property
    def flops(self) -> float:
        return self.steps_run * self.flops_per_step


@dataclass
class Space:
    """The swept hyperparameters (as a sweep spec names them) and the trained point of each combination."""

    params: dict[str, Distribution]
    points: dict[tuple, Point]
    eval_interval: int

    def key(self, values: Mapping[str, Any]) -> tuple:
        return tuple(values[n] for n in self.params)

    def combinations(self) -> Iterator[dict[str, Any]]:
        return plan.grid(self.params)

    @property
    def total_flops(self) -> float:
        return sum(p.flops for p in self.points.values())

    @property
    def best(self) -> tuple[dict[str, Any], float]:
        finished = [(c, self.points[self.key(c)].final) for c in self.combinations()]
        return min(((c, v) for c, v in finished if v is not None), key=lambda cv: cv[1])


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    state: RunState  # DONE, PRUNED or FAILED
    steps: int
    flops: float
    value: float | None  # DONE: final val loss; PRUNED: val loss at the step it was pruned
    reason: str = ""
    trained: bool = True  # False: a repeat given its earlier result for free (Method.free_repeats)


@dataclass
class Trace:
    """One method's sweep under one seed: its trials in order."""

    method: str
    seed: int
    trials: list[Trial] = field(default_factory=list)

    def curve(self) -> list[tuple[float, float]]:
        """(cumulative FLOPs, best final val loss so far) after each trial; inf before the first finishes."""
        out, spent, best = [], 0.0, math.inf
        for t in self.trials:
            spent += t.flops
            if t.state == RunState.DONE and t.value is not None:
                best = min(best, t.value)
            out.append((spent, best))
        return out

    def best_at(self, flops: float) -> float:
        """The best final val loss found by the time `flops` were spent (inf: none yet)."""
        best = math.inf
        for spent, value in self.curve():
            if spent > flops * (1 + 1e-9):
                break
            best = value
        return best

    def flops_to(self, target: float) -> float:
        """The compute spent when the best so far first came to `target` or below (inf: never)."""
        return next((spent for spent, value in self.curve() if value <= target), math.inf)

    @property
    def repeats(self) -> int:
        """Trials of a point this sweep had already tried (the engine trains them again)."""
        return len(self.trials) - len({tuple(sorted(t.params.items())) for t in self.trials})


def replay(space: Space, params: dict[str, Any], earlier: list[Trial], rule: EarlyStopping) -> Trial:
    """A trial of `params` as the engine would run it: judged at each eval against the earlier
    trials' val loss at the same step (those that reached it), stopped at the first verdict."""
    point = space.points[space.key(params)]
    curves = [space.points[space.key(t.params)].evals for t in earlier if t.trained]
    reached = [t.steps for t in earlier if t.trained]
    for step in sorted(point.evals):
        if step > point.steps_run:
            break
        others = [c[step] for c, last in zip(curves, reached) if step <= last and step in c]
        value = point.evals[step]
        reason = pruning.verdict(rule, step, value, others, space.eval_interval, point.max_iters, point.warmup)
        if reason:
            return Trial(params, RunState.PRUNED, step, step * point.flops_per_step, point.evals[step], reason)
    state = RunState.DONE if point.final is not None else RunState.FAILED
    return Trial(params, state, point.steps_run, point.flops, point.final)


def outcome(t: Trial) -> tpe.Outcome:
    """The trial as the engine's driver hands it to the TPE study."""
    if t.state == RunState.PRUNED:
        return tpe.Outcome(t.params, t.state, t.value, t.steps)
    return tpe.Outcome(t.params, t.state, t.value)


@dataclass(frozen=True)
class Method:
    name: str
    sampler: str  # grid | random | tpe
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    params: dict[str, Distribution] | None = None  # the space as the sampler sees it (None: the table's)
    # What the engine does not do (it trains every proposal): a point proposed again is not
    # retrained; the study is told its earlier result and the repeat costs nothing.
    free_repeats: bool = False


def simulate(space: Space, method: Method, seed: int, budget: float, max_trials: int) -> Trace:
    """Trials until the budget (FLOPs) is spent, every point has been tried, or max_trials."""
    trace = Trace(method.name, seed)
    seen: dict[tuple, Trial] = {}
    spent = 0.0
    size = len(space.points)
    spec = SweepSpec(
        id="tabular",
        method="tpe",
        params=method.params or space.params,
        n_trials=size,  # TPE's random start-up is a third of this, 3 to 10, as for `sweep tpe -n SIZE`
        seed=seed,
        early_stopping=method.early_stopping,
    )
    order = list(space.combinations()) if method.sampler == "grid" else []
    for k in range(max_trials):
        if spent >= budget or len(seen) >= size:
            break
        if method.sampler == "grid":
            if k >= len(order):
                break
            params = order[k]
        elif method.sampler == "random":
            params = plan.random_draw(space.params, seed, k)
            if params is None:
                break
        else:
            params = tpe.propose(spec, [outcome(t) for t in trace.trials], k + 1)
            if params is None:  # every point tried: the engine's driver stops the sweep here
                break
        key = space.key(params)
        if method.free_repeats and key in seen:
            first = seen[key]
            trial = Trial(first.params, first.state, first.steps, 0.0, first.value, "a repeat, not retrained", False)
        else:
            trial = replay(space, dict(params), trace.trials, method.early_stopping)
        trace.trials.append(trial)
        seen.setdefault(key, trial)
        spent += trial.flops
    return trace


# -- summaries over seeds ------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def band(traces: list[Trace], xs: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Across seeds at each compute in xs: the median and the quartiles of the best-so-far, by
    nearest rank (nan where the seed at that rank has no finished trial yet)."""
    mids, lows, highs = [], [], []
    for x in xs:
        values = sorted(t.best_at(x) for t in traces)
        n = len(values)
        mid = median(values)
        q1, q3 = values[max(0, math.ceil(n / 4) - 1)], values[max(0, math.ceil(3 * n / 4) - 1)]
        mids.append(mid if math.isfinite(mid) else math.nan)
        lows.append(q1 if math.isfinite(q1) else math.nan)
        highs.append(q3 if math.isfinite(q3) else math.nan)
    return mids, lows, highs
