"""Optuna, engine side only: a study rebuilt from a sweep's trials as the store records them, TPE's
next proposal, and parameter importances. There is no Optuna database: the store is the truth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from engine.store.schema import RunState
from engine.sweeps import distributions as dist
from engine.sweeps import plan
from engine.sweeps.spec import SweepSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

MAX_STARTUP = 10  # Optuna's default count of random trials before TPE models the results
# Asks for a point not tried yet before the seeded fallback: enough for the constant liar to turn
# TPE off the few points it favours, few enough that a proposal stays well under a second.
MAX_ASKS = 8


@dataclass(frozen=True)
class Outcome:
    """One trial as the study sees it: its params, how it ended, its final (or last) val loss."""

    params: dict[str, Any]
    state: RunState  # DONE, PRUNED, FAILED or RUNNING
    value: float | None = None
    step: int = 0


def to_optuna(d: dist.Distribution) -> BaseDistribution:
    if isinstance(d, dist.Choice):
        return CategoricalDistribution(list(d.values))
    if isinstance(d, dist.IntRange):
        return IntDistribution(d.lo, d.hi)
    return FloatDistribution(d.lo, d.hi, log=isinstance(d, dist.LogUniform))


def distributions(params: Mapping[str, dist.Distribution]) -> dict[str, BaseDistribution]:
    return {name: to_optuna(d) for name, d in params.items()}


def frozen_trial(o: Outcome, params: Mapping[str, dist.Distribution]) -> optuna.trial.FrozenTrial | None:
    """The trial as Optuna's study holds it; None when its params do not fit the space."""
    if set(o.params) != set(params) or not all(dist.contains(d, o.params[n]) for n, d in params.items()):
        return None
    space = distributions(params)
    finite = o.value is not None and math.isfinite(o.value)
    if o.state == RunState.DONE and finite:
        return create_trial(params=o.params, distributions=space, value=o.value)
    if o.state == RunState.PRUNED:
        steps = {o.step: o.value} if finite else None
        return create_trial(params=o.params, distributions=space, state=TrialState.PRUNED, intermediate_values=steps)
    if o.state == RunState.RUNNING:
        return create_trial(params=o.params, distributions=space, state=TrialState.RUNNING)
    return create_trial(params=o.params, distributions=space, state=TrialState.FAIL)


def sampler_seed(seed: int, number: int) -> int:
    """Proposals are tied to trial numbers: trial n's sampler is seeded by (seed, n)."""
    return (seed * 1_000_003 + number) % 2**32


def study_from(
    outcomes: list[Outcome], params: Mapping[str, dist.Distribution], sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for o in outcomes:
        trial = frozen_trial(o, params)
        if trial is not None:
            study.add_trial(trial)
    return study


def propose(spec: SweepSpec, outcomes: list[Outcome], number: int) -> dict[str, Any] | None:
    """TPE's params for trial `number`, from a study rebuilt from every trial so far (running
    ones included, so parallel proposals spread out). Always inside the spec's bounds, and a
    function of (spec, outcomes, number) alone: a restarted engine proposes the same.

    A point already tried (running, finished, pruned or failed) is not proposed again while an
    untried one remains: the engine would train it again for the same result. A repeat is asked
    again, left in the study as running, which the constant liar counts as worse than every
    finished trial, so TPE leans away from it; after MAX_ASKS, a small discrete space gives its
    first untried point in the sweep's seeded order (random search's), a continuous one the
    repeat. None once every point of a small discrete space has been tried."""
    tried = {point_key(spec.params, o.params) for o in outcomes}
    small = plan.is_small_discrete(spec.params)
    fallback = untried_point(spec, tried) if small else None
    if small and fallback is None:
        return None
    startup = max(3, min(MAX_STARTUP, spec.n_trials // 3))
    sampler = optuna.samplers.TPESampler(
        seed=sampler_seed(spec.seed, number), n_startup_trials=startup, constant_liar=True
    )
    study = study_from(outcomes, spec.params, sampler)
    space = distributions(spec.params)
    for _ in range(MAX_ASKS):
        params = dict(study.ask(space).params)  # never told: it stays running in the study
        if point_key(spec.params, params) not in tried:
            return params
    return fallback or params


def point_key(space: Mapping[str, dist.Distribution], params: Mapping[str, Any]) -> tuple[str, ...]:
    """A point as a comparable value: its params in the space's order (repr: 1, 1.0 and True differ)."""
    return tuple(repr(params.get(name)) for name in space)


def untried_point(spec: SweepSpec, tried: set[tuple[str, ...]]) -> dict[str, Any] | None:
    """The first point of a small discrete space not yet tried, in the sweep's seeded order (random
    search's draws); None when every point has been tried."""
    for k in range(plan.grid_size(spec.params) or 0):
        draw = plan.random_draw(spec.params, spec.seed, k)
        if draw is not None and point_key(spec.params, draw) not in tried:
            return draw
    return None


def importances(params: Mapping[str, dist.Distribution], outcomes: list[Outcome]) -> tuple[str, dict[str, float]]:
    """Optuna's importance evaluator on the finished trials: (its name, {param: share})."""
    study = study_from([o for o in outcomes if o.state == RunState.DONE], params)
    varied = [n for n in params if len({repr(t.params[n]) for t in study.trials}) > 1]
    if not varied:
        return "optuna", {}
    # PED-ANOVA compares the best trials with the rest; keep at least 3 among the best.
    quantile = min(0.5, max(0.1, 3 / len(study.trials)))
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=varied)
    return f"optuna {type(evaluator).__name__}", {n: float(v) for n, v in found.items()}
