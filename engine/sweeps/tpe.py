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
from engine.sweeps.spec import SweepSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

MAX_STARTUP = 10  # Optuna's default count of random trials before TPE models the results


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


def propose(spec: SweepSpec, outcomes: list[Outcome], number: int) -> dict[str, Any]:
    """TPE's params for trial `number`, from a study rebuilt from every trial so far (running
    ones included, so parallel proposals spread out). Always inside the spec's bounds."""
    startup = max(3, min(MAX_STARTUP, spec.n_trials // 3))
    sampler = optuna.samplers.TPESampler(
        seed=sampler_seed(spec.seed, number), n_startup_trials=startup, constant_liar=True
    )
    study = study_from(outcomes, spec.params, sampler)
    return dict(study.ask(distributions(spec.params)).params)


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
