"""A sweep's trials: the seed's batch and learning-rate rules, grid and random expansion, and the
plan of validated trials (skipped combinations with their reasons). Pure: no store, no torch."""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.core import config as cfgmod
from engine.core.config import ConfigError, Problem
from engine.core.errors import GptTuiError
from engine.sweeps import distributions as dist
from engine.sweeps.distributions import Choice, Distribution
from engine.sweeps.spec import SweepSpec, check_spec

# A discrete space this small is drawn from without replacement (a seeded permutation).
PERMUTE_LIMIT = 100_000
# Random search keeps drawing past invalid combinations, up to this many draws per trial.
DRAWS_PER_TRIAL = 10


# -- the seed's rules, pure -------------------------------------------------------------


def kept_accumulation(base_batch: int, base_accumulation: int, batch_size: int) -> int | None:
    """The accumulation that keeps batch x accumulation as in the base; None if none does."""
    effective = base_batch * base_accumulation
    return effective // batch_size if batch_size >= 1 and effective % batch_size == 0 else None


def lr_factor(rule: str, base_effective: int, effective: int) -> float:
    """The learning rate's multiplier for a change of effective batch (the seed: bigger batch, bit higher LR)."""
    ratio = effective / base_effective
    return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def trial_mapping(
    base: cfgmod.RunConfig,
    params: Mapping[str, Any],
    keep_effective_batch: bool = False,
    scale_lr_with_batch: str = "none",
) -> dict[str, Any]:
    """A trial's hyperparameters: the base with the swept values and the rules applied.

    min_lr follows learning_rate at the base's ratio unless it is swept too, so that a lower
    learning rate decays the same way (the seed's presets keep min_lr = learning_rate / 10).
    Raises ValueError with the reason when keep_effective_batch cannot hold.
    """
    out = dict(params)
    if keep_effective_batch and "batch_size" in params:
        acc = kept_accumulation(base.batch_size, base.gradient_accumulation_steps, params["batch_size"])
        if acc is None:
            raise ValueError(
                f"batch_size {params['batch_size']} does not divide the effective batch "
                f"{base.effective_batch} that keep_effective_batch keeps"
            )
        out["gradient_accumulation_steps"] = acc
    lr = out.get("learning_rate", base.learning_rate)
    if "learning_rate" in params and "min_lr" not in params:
        out["min_lr"] = _tidy(base.min_lr * lr / base.learning_rate)
    effective = out.get("batch_size", base.batch_size) * out.get(
        "gradient_accumulation_steps", base.gradient_accumulation_steps
    )
    factor = lr_factor(scale_lr_with_batch, base.effective_batch, effective)
    if factor != 1.0:
        out["learning_rate"] = _tidy(lr * factor)
        out["min_lr"] = _tidy(out.get("min_lr", base.min_lr) * factor)
    return out


def _tidy(x: float) -> float:
    """12 significant digits: 3e-05, not 3.0000000000000004e-05, in config files and tables."""
    return float(f"{x:.12g}")


# -- expansion ----------------------------------------------------------------------------


def grid(params: Mapping[str, Distribution]) -> Iterator[dict[str, Any]]:
    """Every combination, the last parameter changing fastest."""
    names = list(params)
    values = [dist.grid_values(params[n]) for n in names]
    for combo in itertools.product(*values):
        yield dict(zip(names, combo))


def grid_size(params: Mapping[str, Distribution]) -> int | None:
    sizes = [dist.grid_values(d) for d in params.values()]
    return None if any(s is None for s in sizes) else math.prod(len(s) for s in sizes)


def is_small_discrete(params: Mapping[str, Distribution]) -> bool:
    """Every parameter takes a list of values, and there are few enough points to walk them all."""
    size = grid_size(params)
    return size is not None and size <= PERMUTE_LIMIT


def random_draw(params: Mapping[str, Distribution], seed: int, k: int) -> dict[str, Any] | None:
    """Draw number k (from 0) of a random search: a function of (seed, k) alone, so a restart never
    repeats a draw. A small discrete space is walked in a seeded permutation, without replacement;
    None once it is used up."""
    size = grid_size(params)
    if size is not None and size <= PERMUTE_LIMIT:
        if k >= size:
            return None
        return _grid_point(params, _permutation(seed, size)[k])
    rng = random.Random(f"{seed}:{k}")
    return {name: dist.sample(d, rng) for name, d in params.items()}


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, size: int) -> tuple[int, ...]:
    """The seeded order a small discrete space is walked in; kept, not redrawn for every trial
    (a plan of n trials over a space of s points would otherwise cost n x s)."""
    order = list(range(size))
    random.Random(f"{seed}:permutation").shuffle(order)
    return tuple(order)


def _grid_point(params: Mapping[str, Distribution], index: int) -> dict[str, Any]:
    point: dict[str, Any] = {}
    for name in reversed(list(params)):
        values = dist.grid_values(params[name])
        index, i = divmod(index, len(values))
        point[name] = values[i]
    return {name: point[name] for name in params}


# -- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    number: int  # from 1, in the order trials are created
    params: dict[str, Any]  # the swept values as drawn
    config: dict[str, Any] | None = None  # the full validated config; None when skipped
    reason: str = ""  # why it was skipped

    @property
    def batch_label(self) -> str:
        c = self.config or {}
        return cfgmod.format_batch(c["batch_size"], c["gradient_accumulation_steps"]) if c else "-"


@dataclass(frozen=True)
class Plan:
    spec: SweepSpec
    base: cfgmod.RunConfig
    trials: list[Trial]  # valid, numbered 1.. in queue order (empty for tpe: proposed later)
    skipped: list[Trial]  # invalid combinations with their reasons


def check_trial(
    spec: SweepSpec,
    base: cfgmod.RunConfig,
    number: int,
    params: Mapping[str, Any],
    caps: cfgmod.DeviceCaps | None = None,
) -> Trial:
    """The trial with its validated config, or with the reason it cannot run."""
    try:
        mapping = trial_mapping(base, params, spec.keep_effective_batch, spec.scale_lr_with_batch)
        cfg = cfgmod.from_mapping(mapping, base, caps)
    except ConfigError as e:
        return Trial(number, dict(params), None, "; ".join(map(str, e.problems)))
    except (GptTuiError, ValueError) as e:
        return Trial(number, dict(params), None, str(e))
    return Trial(number, dict(params), cfg.to_dict())


def combinations(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """The candidate trials of grid, random and list, in order, before validation."""
    if spec.method == "grid":
        yield from grid(spec.params)
    elif spec.method == "list":
        yield from (dict(t) for t in spec.trials)
    elif spec.method == "random":
        for k in itertools.count():
            draw = random_draw(spec.params, spec.seed, k)
            if draw is None:
                return
            yield draw


def plan(spec: SweepSpec, caps: cfgmod.DeviceCaps | None = None) -> Plan:
    """Validate the spec and every trial; ConfigError (every problem) when the sweep cannot run.

    Policy: an invalid combination is skipped and listed with its reason; the sweep is refused
    only when the spec itself is wrong or no trial at all is valid."""
    problems = check_spec(spec)
    base = None
    try:
        base = spec.base_config(caps)
    except ConfigError as e:
        problems.extend(p for p in e.problems if p not in problems)  # a bad proxy is check_spec's too
    if problems or base is None:
        raise ConfigError(problems, f"sweep {spec.id}")
    if spec.method == "tpe":
        problems = [p for name, d in spec.params.items() for p in _bound_problems(spec, base, name, d, caps)]
        if problems:
            raise ConfigError(problems, f"sweep {spec.id}")
        return Plan(spec, base, [], [])
    cap = spec.trial_cap
    limit = None if spec.method != "random" else DRAWS_PER_TRIAL * (cap or 1)
    trials: list[Trial] = []
    skipped: list[Trial] = []
    for k, params in enumerate(combinations(spec)):
        if (cap is not None and len(trials) >= cap) or (limit is not None and k >= limit):
            break
        t = check_trial(spec, base, k + 1, params, caps)
        (trials if t.config is not None else skipped).append(t)
    trials = [replace(t, number=i + 1) for i, t in enumerate(trials)]
    skipped = [replace(t, number=0) for t in skipped]
    if not trials:
        reasons = sorted({t.reason for t in skipped}) or ["the sweep has no trials"]
        raise ConfigError([Problem("sweep", f"no valid trial: {r}") for r in reasons[:5]], f"sweep {spec.id}")
    return Plan(spec, base, trials, skipped)


def _bound_problems(
    spec: SweepSpec, base: cfgmod.RunConfig, name: str, d: Distribution, caps: cfgmod.DeviceCaps | None
) -> list[Problem]:
    """TPE cannot list its trials in advance: check each bound of each range on the base alone."""
    ends = d.values if isinstance(d, Choice) else (d.lo, d.hi)
    out = []
    for value in ends:
        t = check_trial(spec, base, 0, {name: value}, caps)
        if t.config is None:
            out.append(Problem(name, f"{name}={value!r} is not valid on the base config: {t.reason}"))
    return out
