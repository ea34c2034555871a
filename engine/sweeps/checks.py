"""The checks of a sweep's own settings: method, trials, rules, budgets (its trials are plan()'s)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from engine.core import config as cfgmod
from engine.core.bounds import INT_MAX, out_of_bounds
from engine.core.config import Problem
from engine.store.fieldcheck import shown
from engine.sweeps import distributions as dist
from engine.sweeps.proxy import proxy_problems

METHODS = ("grid", "random", "tpe", "list")
LR_SCALINGS = ("none", "linear", "sqrt")
RULES = ("none", "median", "asha")
OBJECTIVE = "final val loss"
# More trials than this is a typo or an attack, not a sweep: planning alone would take hours.
MAX_TRIALS = 10_000
MAX_SWEEP_ID = 18  # so that `<sweep>-t001` fits the 24 characters of a run id's name part
MAX_TOTAL_SECONDS = 10 * 365 * 24 * 3600  # a time budget of ten years is no budget: a typo or an attack
MAX_ETA = 100  # ASHA's reduction factor: past this no trial reaches a second rung

_SWEEP_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def is_sweep_id(text: str) -> bool:
    return bool(_SWEEP_ID.fullmatch(text)) and len(text) <= MAX_SWEEP_ID


def check_spec(spec: Any) -> list[Problem]:
    """Every problem with the sweep's own settings (the trials are checked by plan())."""
    p: list[Problem] = []
    if not is_sweep_id(spec.id):
        p.append(
            Problem(
                "name",
                f"sweep id {spec.id!r} must be lowercase letters, digits and '-', "
                f"at most {MAX_SWEEP_ID} characters, e.g. 'lr-batch'",
            )
        )
    if spec.method not in METHODS:
        p.append(
            Problem(
                "method",
                f"unknown method {spec.method!r}{cfgmod.suggest(spec.method, METHODS)} "
                f"(choose from {', '.join(METHODS)})",
            )
        )
    if spec.method == "list":
        if not spec.trials:
            p.append(Problem("trial", "method 'list' needs [[trial]] tables, one per trial"))
        if spec.params:
            p.append(Problem("params", "method 'list' takes its trials from [[trial]]; drop [params]"))
        if len(spec.trials) > MAX_TRIALS:
            p.append(
                Problem(
                    "trial",
                    f"{len(spec.trials):,} [[trial]] tables are more than the {MAX_TRIALS:,} "
                    "a sweep may hold; split it into several sweeps",
                )
            )
            return p  # checking each of them would take as long as the sweep is absurd
        for i, t in enumerate(spec.trials, 1):
            p.extend(Problem(f"trial {i}", str(q)) for q in _unknown_keys(t))
    elif spec.method in METHODS:
        if not spec.params:
            p.append(Problem("params", "give at least one hyperparameter to sweep, e.g. learning_rate=1e-4,3e-4"))
        if spec.method == "grid":
            p.extend(
                Problem(
                    n,
                    f"a grid needs a list of values, not the range {d.text()}; write e.g. "
                    f"{n}={d.lo!r},{d.hi!r} or use random or tpe",
                )
                for n, d in spec.params.items()
                if dist.grid_values(d) is None
            )
            sizes = [dist.grid_values(d) for d in spec.params.values()]
            if all(v is not None for v in sizes) and math.prod(map(len, sizes)) > MAX_TRIALS:
                p.append(
                    Problem(
                        "params",
                        f"a grid of {math.prod(map(len, sizes)):,} combinations is more than "
                        f"the {MAX_TRIALS:,} a sweep may hold; list fewer values, or use "
                        "random or tpe with -n",
                    )
                )
        elif spec.n_trials < 1:
            p.append(Problem("n_trials", f"{spec.method} needs the number of trials (-n N), at least 1"))
    if spec.scale_lr_with_batch not in LR_SCALINGS:
        p.append(
            Problem("scale_lr_with_batch", f"must be one of {', '.join(LR_SCALINGS)}, got {spec.scale_lr_with_batch!r}")
        )
    if spec.keep_effective_batch and "gradient_accumulation_steps" in spec.swept:
        p.append(
            Problem(
                "gradient_accumulation_steps",
                "keep_effective_batch sets it from batch_size; sweep one of the two, not both",
            )
        )
    if spec.keep_effective_batch and isinstance(spec.params.get("batch_size"), dist.IntRange):
        p.append(
            Problem(
                "batch_size",
                "with keep_effective_batch, list batch sizes that divide the "
                "effective batch (e.g. batch_size=4,8,12) rather than a range",
            )
        )
    es = spec.early_stopping
    if es.rule not in RULES:
        p.append(
            Problem(
                "early_stopping",
                f"unknown rule {es.rule!r}{cfgmod.suggest(es.rule, RULES)} (choose from {', '.join(RULES)})",
            )
        )
    for name, value, low, high in (
        ("n_startup", es.n_startup, 1, MAX_TRIALS),
        ("min_step", es.min_step, 0, INT_MAX),
        ("eta", es.eta, 2, MAX_ETA),
        ("n_trials", spec.n_trials, 0, MAX_TRIALS),
        ("max_trials", spec.max_trials, 0, MAX_TRIALS),
        ("parallel", spec.parallel, 1, MAX_TRIALS),
        ("seed", spec.seed, 0, INT_MAX),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            too_many = high == MAX_TRIALS and name != "n_startup" and isinstance(value, int) and value > high
            why = f", more than the {MAX_TRIALS:,} trials a sweep may hold" if too_many else ""
            p.append(Problem(name, f"must be a whole number from {low} to {_upper(high)}; got {shown(value)}{why}"))
    if not isinstance(spec.keep_effective_batch, bool):
        p.append(Problem("keep_effective_batch", f"must be true or false, got {shown(spec.keep_effective_batch)}"))
    budget = spec.max_total_seconds
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= MAX_TOTAL_SECONDS:
        p.append(
            Problem(
                "max_total_seconds",
                f"must be 0 (no limit) or a number of seconds up to {MAX_TOTAL_SECONDS:,} (ten years); "
                f"got {shown(budget)}",
            )
        )
    p.extend(_distribution_problems(spec.params))
    p.extend(proxy_problems(spec.proxy, spec.swept))  # its fit with the base is SweepSpec.base_config's
    return p


def _distribution_problems(params: Mapping[str, Any]) -> list[Problem]:
    """Each swept value or range end outside what its field may be: a range reaching past it would
    draw trials that can only be skipped, and an absurd end (1e308) breaks the drawing itself."""
    out = []
    for name, d in params.items():
        ends = d.values if isinstance(d, dist.Choice) else (d.lo, d.hi)
        bad = [v for v in ends if not isinstance(v, (bool, str)) and out_of_bounds(name, v)]
        if bad:
            what = f"{shown(bad[0])}" if isinstance(d, dist.Choice) else f"the range {d.text()}"
            out.append(Problem(name, f"{what} reaches outside what {name} may be: {out_of_bounds(name, bad[0])}"))
    return out


def _upper(high: int) -> str:
    return "2^63-1" if high == INT_MAX else f"{high:,}"


def _unknown_keys(mapping: Mapping[str, Any]) -> list[Problem]:
    return [cfgmod.unknown_key(k) for k in mapping if k not in cfgmod.FIELDS]
