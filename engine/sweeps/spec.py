"""Sweep specs: methods, distributions per hyperparameter, the base config, the seed's rules as
settings, early stopping and budgets; their validation and TOML form. Pure. Expansion into trials
is engine.sweep_plan."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

import tomli_w

from engine.core import config as cfgmod
from engine.sweeps import distributions as dist
from engine.core.config import ConfigError, Problem
from engine.sweeps.distributions import Distribution

METHODS = ("grid", "random", "tpe", "list")
LR_SCALINGS = ("none", "linear", "sqrt")
RULES = ("none", "median", "asha")
OBJECTIVE = "final val loss"
# More trials than this is a typo or an attack, not a sweep: planning alone would take hours.
MAX_TRIALS = 10_000
MAX_SWEEP_ID = 18  # so that `<sweep>-t001` fits the 24 characters of a run id's name part

_SWEEP_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class EarlyStopping:
    """When to stop a trial at an eval point, judged against the sweep's other trials."""

    rule: str = "none"   # none | median | asha
    n_startup: int = 3   # other trials that must have reached the step before any judgement
    min_step: int = 0    # no judgement before this step (0: the first eval after step 0)
    eta: int = 3         # ASHA: rungs grow by this factor, and the top 1/eta go on


@dataclass(frozen=True)
class SweepSpec:
    id: str
    method: str
    params: dict[str, Distribution] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)  # hyperparameters over `preset`
    preset: str = ""
    n_trials: int = 0            # random and tpe; grid and list try every combination / trial
    seed: int = 0
    keep_effective_batch: bool = False
    scale_lr_with_batch: str = "none"
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    max_trials: int = 0          # 0: no cap
    max_total_seconds: float = 0.0  # 0: no limit; counts the trials' training time
    parallel: int = 1            # tpe: trials in flight at once
    trials: tuple[dict[str, Any], ...] = ()  # method "list": hand-picked trials

    def base_config(self, caps: cfgmod.DeviceCaps | None = None) -> cfgmod.RunConfig:
        start = cfgmod.preset(self.preset) if self.preset else cfgmod.DEFAULTS
        return cfgmod.from_mapping(self.base, start, caps, source=f"sweep {self.id} base")

    @property
    def swept(self) -> list[str]:
        """The hyperparameters that differ between trials, in the order they were given."""
        if self.method == "list":
            return list(dict.fromkeys(k for t in self.trials for k in t))
        return list(self.params)

    @property
    def trial_cap(self) -> int | None:
        """How many trials at most, where the method or the budget says (None: every combination)."""
        caps = [n for n in (self.n_trials if self.method in ("random", "tpe") else 0, self.max_trials) if n]
        return min(caps) if caps else None


def parse_params(texts: list[str]) -> dict[str, Distribution]:
    """`name=spec` texts from a command line; ConfigError names every bad one at once."""
    problems: list[Problem] = []
    out: dict[str, Distribution] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(Problem(name or text, f"{text!r} must look like name=values, e.g. "
                                                  "learning_rate=1e-4,3e-4 or dropout=0:0.2"))
            continue
        if name in out:
            problems.append(Problem(name, "is swept twice; give all its values in one argument"))
            continue
        d, problem = dist.parse_problem(name, value)
        if problem:
            problems.append(problem)
        else:
            out[name] = d
    if problems:
        raise ConfigError(problems, "sweep parameters")
    return out


def is_sweep_id(text: str) -> bool:
    return bool(_SWEEP_ID.fullmatch(text)) and len(text) <= MAX_SWEEP_ID


def check_spec(spec: SweepSpec) -> list[Problem]:
    """Every problem with the sweep's own settings (the trials are checked by plan())."""
    p: list[Problem] = []
    if not is_sweep_id(spec.id):
        p.append(Problem("name", f"sweep id {spec.id!r} must be lowercase letters, digits and '-', "
                                 f"at most {MAX_SWEEP_ID} characters, e.g. 'lr-batch'"))
    if spec.method not in METHODS:
        p.append(Problem("method", f"unknown method {spec.method!r}{cfgmod.suggest(spec.method, METHODS)} "
                                   f"(choose from {', '.join(METHODS)})"))
    if spec.method == "list":
        if not spec.trials:
            p.append(Problem("trial", "method 'list' needs [[trial]] tables, one per trial"))
        if spec.params:
            p.append(Problem("params", "method 'list' takes its trials from [[trial]]; drop [params]"))
        for i, t in enumerate(spec.trials, 1):
            p.extend(Problem(f"trial {i}", str(q)) for q in _unknown_keys(t))
    elif spec.method in METHODS:
        if not spec.params:
            p.append(Problem("params", "give at least one hyperparameter to sweep, e.g. learning_rate=1e-4,3e-4"))
        if spec.method == "grid":
            p.extend(Problem(n, f"a grid needs a list of values, not the range {d.text()}; write e.g. "
                                f"{n}={d.lo!r},{d.hi!r} or use random or tpe")
                     for n, d in spec.params.items() if dist.grid_values(d) is None)
            sizes = [dist.grid_values(d) for d in spec.params.values()]
            if all(v is not None for v in sizes) and math.prod(map(len, sizes)) > MAX_TRIALS:
                p.append(Problem("params", f"a grid of {math.prod(map(len, sizes)):,} combinations is more than "
                                           f"the {MAX_TRIALS:,} a sweep may hold; list fewer values, or use "
                                           "random or tpe with -n"))
        elif spec.n_trials < 1:
            p.append(Problem("n_trials", f"{spec.method} needs the number of trials (-n N), at least 1"))
    if spec.scale_lr_with_batch not in LR_SCALINGS:
        p.append(Problem("scale_lr_with_batch", f"must be one of {', '.join(LR_SCALINGS)}, "
                                                f"got {spec.scale_lr_with_batch!r}"))
    if spec.keep_effective_batch and "gradient_accumulation_steps" in spec.swept:
        p.append(Problem("gradient_accumulation_steps", "keep_effective_batch sets it from batch_size; "
                                                        "sweep one of the two, not both"))
    if spec.keep_effective_batch and isinstance(spec.params.get("batch_size"), dist.IntRange):
        p.append(Problem("batch_size", "with keep_effective_batch, list batch sizes that divide the "
                                       "effective batch (e.g. batch_size=4,8,12) rather than a range"))
    es = spec.early_stopping
    if es.rule not in RULES:
        p.append(Problem("early_stopping", f"unknown rule {es.rule!r}{cfgmod.suggest(es.rule, RULES)} "
                                           f"(choose from {', '.join(RULES)})"))
    for name, value, low in (("n_startup", es.n_startup, 1), ("min_step", es.min_step, 0), ("eta", es.eta, 2),
                             ("n_trials", spec.n_trials, 0), ("max_trials", spec.max_trials, 0),
                             ("parallel", spec.parallel, 1), ("seed", spec.seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            p.append(Problem(name, f"must be a whole number, at least {low}; got {value!r}"))
        elif name in ("n_trials", "max_trials", "parallel") and value > MAX_TRIALS:
            p.append(Problem(name, f"{value:,} is more than the {MAX_TRIALS:,} trials a sweep may hold"))
    if not isinstance(spec.keep_effective_batch, bool):
        p.append(Problem("keep_effective_batch", f"must be true or false, got {spec.keep_effective_batch!r}"))
    if not (isinstance(spec.max_total_seconds, (int, float)) and not isinstance(spec.max_total_seconds, bool)
            and spec.max_total_seconds >= 0):
        p.append(Problem("max_total_seconds", f"must be 0 (no limit) or more, got {spec.max_total_seconds!r}"))
    return p


def _unknown_keys(mapping: Mapping[str, Any]) -> list[Problem]:
    return [cfgmod.unknown_key(k) for k in mapping if k not in cfgmod.FIELDS]


# -- TOML -------------------------------------------------------------------------------

_SCALARS = ("n_trials", "seed", "keep_effective_batch", "scale_lr_with_batch", "max_trials",
            "max_total_seconds", "parallel")
_TOP_KEYS = ("id", "method", "objective", "preset", "base", "params", "trial", "early_stopping", *_SCALARS)
STORE_KEYS = ("created", "finished", "stopped", "run", "skipped")  # what the store adds to a sweep file


def to_mapping(spec: SweepSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"id": spec.id, "method": spec.method, "objective": OBJECTIVE}
    if spec.preset:
        out["preset"] = spec.preset
    out.update((k, getattr(spec, k)) for k in _SCALARS)
    out["early_stopping"] = dict(vars(spec.early_stopping))
    out["base"] = dict(spec.base)
    if spec.params:
        out["params"] = {n: dist.to_toml_value(d) for n, d in spec.params.items()}
    if spec.trials:
        out["trial"] = [dict(t) for t in spec.trials]
    return out


def to_toml(spec: SweepSpec) -> str:
    return tomli_w.dumps(to_mapping(spec))


def from_mapping(data: Mapping[str, Any], source: str = "", default_id: str = "", check: bool = True) -> SweepSpec:
    """A SweepSpec from its TOML tables; ConfigError lists every problem. Keys the store adds
    (run records, timestamps) are ignored, so a stored sweep file reads back as its spec."""
    problems: list[Problem] = [
        Problem(k, f"unknown sweep setting{cfgmod.suggest(k, _TOP_KEYS) or ' (hyperparameters go in [base])'}")
        for k in data if k not in _TOP_KEYS and k not in STORE_KEYS]

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            problems.append(Problem(key, f"must be a table ([{key}]), got {value!r}"))
            return {}
        return value

    params: dict[str, Distribution] = {}
    for name, value in table("params").items():
        d, problem = dist.from_toml_value(name, value)
        if problem:
            problems.append(problem)
        else:
            params[name] = d
    base = table("base")
    problems.extend(_unknown_keys(base))
    trials = data.get("trial", [])
    if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
        problems.append(Problem("trial", "write each hand-picked trial as a [[trial]] table"))
        trials = []
    es_data = table("early_stopping")
    es_fields = set(EarlyStopping.__dataclass_fields__)
    problems.extend(Problem("early_stopping", f"unknown setting {k!r}{cfgmod.suggest(k, es_fields)}")
                    for k in es_data if k not in es_fields)
    scalars = {k: data[k] for k in _SCALARS if k in data}
    if problems:
        raise ConfigError(problems, source)
    spec = SweepSpec(
        id=str(data.get("id", default_id)), method=str(data.get("method", "grid")), params=params,
        base=dict(base), preset=str(data.get("preset", "")), trials=tuple(dict(t) for t in trials),
        early_stopping=EarlyStopping(**{k: v for k, v in es_data.items() if k in es_fields}), **scalars)
    problems = check_spec(spec) if check else []
    if problems:
        raise ConfigError(problems, source)
    return spec


def from_toml(text: str, source: str = "", default_id: str = "", check: bool = True) -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # bad TOML, an int too long to convert, deep nesting
        raise ConfigError([Problem("toml", f"not valid TOML ({cfgmod.first_line(e)}); fix the syntax")],
                          source) from None
    return from_mapping(data, source, default_id, check)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:MAX_SWEEP_ID].rstrip("-")
