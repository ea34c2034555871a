"""Sweep specs: methods, distributions per hyperparameter, the base config, the seed's rules as
settings, early stopping and budgets; their validation and TOML form. Pure. Expansion into trials
is engine.sweep_plan."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from engine.core import config as cfgmod
from engine.core.config import ConfigError, Problem
from engine.sweeps import distributions as dist
from engine.sweeps import proxy as proxies
from engine.sweeps.checks import (  # noqa: F401 - the sweep's rules, read as sw.X
    LR_SCALINGS,
    MAX_SWEEP_ID,
    MAX_TOTAL_SECONDS,
    MAX_TRIALS,
    METHODS,
    OBJECTIVE,
    RULES,
    _unknown_keys,
    check_spec,
    is_sweep_id,
)
from engine.sweeps.distributions import Distribution


@dataclass(frozen=True)
class EarlyStopping:
    """When to stop a trial at an eval point, judged against the sweep's other trials."""

    rule: str = "none"  # none | median | asha
    n_startup: int = 3  # other trials that must have reached the step before any judgement
    min_step: int = 0  # no judgement before this step (0: the first eval), nor before the trial's warmup ends
    eta: int = 3  # ASHA: rungs grow by this factor, and the top 1/eta go on


@dataclass(frozen=True)
class SweepSpec:
    id: str
    method: str
    params: dict[str, Distribution] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)  # hyperparameters over `preset`
    preset: str = ""
    n_trials: int = 0  # random and tpe; grid and list try every combination / trial
    seed: int = 0
    keep_effective_batch: bool = False
    scale_lr_with_batch: str = "none"
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    max_trials: int = 0  # 0: no cap
    max_total_seconds: float = 0.0  # 0: no limit; counts the trials' training time
    parallel: int = 1  # tpe: trials in flight at once
    trials: tuple[dict[str, Any], ...] = ()  # method "list": hand-picked trials
    proxy: dict[str, Any] = field(default_factory=dict)  # [transfer] proxy: the width trials train at (µP)

    def base_config(self, caps: cfgmod.DeviceCaps | None = None, proxied: bool = True) -> cfgmod.RunConfig:
        """The config every trial starts from: at the proxy's width for a proxy sweep, unless `proxied`
        is off (the full-width base a transfer starts from)."""
        start = cfgmod.preset(self.preset) if self.preset else cfgmod.DEFAULTS
        base = cfgmod.from_mapping(self.base, start, caps, source=f"sweep {self.id} base")
        if not (self.proxy and proxied):
            return base
        return proxies.at_proxy(base, self.proxy, caps, source=f"sweep {self.id} [transfer] proxy")

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
            problems.append(
                Problem(
                    name or text, f"{text!r} must look like name=values, e.g. learning_rate=1e-4,3e-4 or dropout=0:0.2"
                )
            )
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


# -- TOML -------------------------------------------------------------------------------

_SCALARS = (
    "n_trials",
    "seed",
    "keep_effective_batch",
    "scale_lr_with_batch",
    "max_trials",
    "max_total_seconds",
    "parallel",
)
_TOP_KEYS = ("id", "method", "objective", "preset", "base", "params", "trial", "early_stopping", "transfer", *_SCALARS)
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
    if spec.proxy:
        out["transfer"] = {"proxy": dict(spec.proxy)}
    return out


def to_toml(spec: SweepSpec) -> str:
    return tomli_w.dumps(to_mapping(spec))


def from_mapping(data: Mapping[str, Any], source: str = "", default_id: str = "", check: bool = True) -> SweepSpec:
    """A SweepSpec from its TOML tables; ConfigError lists every problem. Keys the store adds
    (run records, timestamps) are ignored, so a stored sweep file reads back as its spec."""
    problems: list[Problem] = [
        Problem(k, f"unknown sweep setting{cfgmod.suggest(k, _TOP_KEYS) or ' (hyperparameters go in [base])'}")
        for k in data
        if k not in _TOP_KEYS and k not in STORE_KEYS
    ]

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
    problems.extend(
        Problem(k, f"must be text, got {data[k]!r}"[:120]) for k in ("id", "method", "preset") if not _text(data, k)
    )
    es_data = table("early_stopping")
    es_fields = set(EarlyStopping.__dataclass_fields__)
    problems.extend(
        Problem("early_stopping", f"unknown setting {k!r}{cfgmod.suggest(k, es_fields)}")
        for k in es_data
        if k not in es_fields
    )
    transfer = table("transfer")
    problems.extend(
        Problem("transfer", f"unknown setting {k!r}{cfgmod.suggest(k, ('proxy',))} (a [transfer] table holds proxy)")
        for k in transfer
        if k != "proxy"
    )
    proxy = transfer.get("proxy", {})
    if not isinstance(proxy, dict):
        problems.append(Problem("proxy", f"must be a table such as {{ n_embd = 128 }}, got {proxy!r}"[:120]))
        proxy = {}
    scalars = {k: data[k] for k in _SCALARS if k in data}
    if problems:
        raise ConfigError(problems, source)
    spec = SweepSpec(
        id=str(data.get("id", default_id)),
        method=str(data.get("method", "grid")),
        params=params,
        base=dict(base),
        preset=str(data.get("preset", "")),
        trials=tuple(dict(t) for t in trials),
        early_stopping=EarlyStopping(**{k: v for k, v in es_data.items() if k in es_fields}),
        proxy=dict(proxy),
        **scalars,
    )
    problems = check_spec(spec) if check else []
    if problems:
        raise ConfigError(problems, source)
    return spec


def _text(data: Mapping[str, Any], key: str) -> bool:
    return key not in data or isinstance(data[key], str)


def from_toml(text: str, source: str = "", default_id: str = "", check: bool = True) -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # bad TOML, an int too long to convert, deep nesting
        raise ConfigError(
            [Problem("toml", f"not valid TOML ({cfgmod.first_line(e)}); fix the syntax")], source
        ) from None
    return from_mapping(data, source, default_id, check)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:MAX_SWEEP_ID].rstrip("-")
