"""A person's sweep choices — a `gpt-tui sweep` command line, or the sweep screen's form filled in
as the same arguments — made into a checked plan, with its estimated time. Light: no torch, no optuna."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from engine.core.errors import GptTuiError
from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.store import runs as st
from engine.sweeps import spec as sw
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.store import throughput
from engine.core.config import ConfigError, Problem
from tui.cli.base import ArgumentParser, add_config_options


def plan_from_args(a: argparse.Namespace, what: str, store: st.Store) -> sp.Plan:
    """The checked plan of the sweep a command line (or the sweep screen's form) describes."""
    return sp.plan(spec_from_file(a, store) if what == "file" else spec_from_args(a, what, store))


def namespace(method: str, **values) -> argparse.Namespace:
    """The arguments `gpt-tui sweep METHOD` would parse, with the CLI's own defaults: the sweep
    screen fills one in, so that it queues exactly the sweep the command line would."""
    a = action_parsers()[method].parse_args([])
    unknown = set(values) - set(vars(a))
    if unknown:
        raise TypeError(f"no sweep option {sorted(unknown)}")
    for key, value in values.items():
        setattr(a, key, value)
    return a


def command_line(method: str, a: argparse.Namespace) -> str:
    """The `gpt-tui sweep` command that parses to `a` (shown by the sweep screen)."""
    parts = ["gpt-tui", "sweep", method, *a.params]
    for flag, key in (("--preset", "preset"), ("--config", "config"), ("--name", "name"), ("-n", "n_trials"), ("--seed", "seed"),
                      ("--scale-lr", "scale_lr"), ("--early-stop", "early_stop"),
                      ("--early-stop-startup", "early_stop_startup"), ("--early-stop-min-step", "early_stop_min_step"),
                      ("--early-stop-eta", "early_stop_eta"), ("--max-trials", "max_trials"),
                      ("--max-hours", "max_hours"), ("--parallel", "parallel")):
        if getattr(a, key, None) not in (None, ""):
            parts += [flag, str(getattr(a, key))]
    parts += [f"--set {o}" for o in a.overrides]
    if a.keep_effective_batch:
        parts.append("--keep-effective-batch")
    return " ".join(parts)


def spec_from_args(a: argparse.Namespace, method: str, store: st.Store) -> sw.SweepSpec:
    """The spec the command line describes; every problem (params and base) reported at once."""
    problems: list[Problem] = []
    params, base = {}, None
    try:
        params = sw.parse_params(a.params)
    except ConfigError as e:
        problems.extend(e.problems)
    try:
        base = cfgmod.resolve(a.preset, a.config, a.overrides)
    except ConfigError as e:
        problems.extend(e.problems)
    if problems or base is None:
        raise ConfigError(problems, "sweep")
    spec = sw.SweepSpec(id=sf.new_id(store, a.name or method), method=method, params=params,
                        base=base.to_dict(), preset=a.preset or "")
    return apply_options(spec, a)


def spec_from_file(a: argparse.Namespace, store: st.Store) -> sw.SweepSpec:
    path: Path = a.file
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem("file", f"cannot read {path}: {e}")]) from None
    # Checked whole by plan(), once the command line's options are applied (-n may complete it).
    spec = sw.from_toml(text, source=str(path), default_id=sw.slug(path.stem) or "sweep", check=False)
    preset = a.preset or spec.preset
    start = cfgmod.preset(preset) if preset else cfgmod.DEFAULTS
    data = {**spec.base, **(cfgmod.read_mapping(a.config) if a.config else {}),
            **cfgmod.overrides_to_mapping(a.overrides)}
    base = cfgmod.from_mapping(data, start, source=f"{path} [base]")
    spec = dataclasses.replace(spec, id=sf.new_id(store, a.name or spec.id), preset=preset,
                               base=base.to_dict())
    return apply_options(spec, a)


def apply_options(spec: sw.SweepSpec, a: argparse.Namespace) -> sw.SweepSpec:
    """Options given on the command line win over the file's (or the defaults)."""
    changes = {k: v for k, v in (("n_trials", a.n_trials), ("seed", a.seed), ("max_trials", a.max_trials),
                                 ("parallel", a.parallel), ("scale_lr_with_batch", a.scale_lr))
               if v is not None}
    if a.keep_effective_batch:
        changes["keep_effective_batch"] = True
    if a.max_hours is not None:
        if not a.max_hours > 0:
            raise ConfigError([Problem("--max-hours", f"must be above 0, got {a.max_hours}")])
        changes["max_total_seconds"] = a.max_hours * 3600.0
    es = {k: v for k, v in (("rule", a.early_stop), ("n_startup", a.early_stop_startup),
                            ("min_step", a.early_stop_min_step), ("eta", a.early_stop_eta)) if v is not None}
    if es:
        changes["early_stopping"] = dataclasses.replace(spec.early_stopping, **es)
    return dataclasses.replace(spec, **changes)


@dataclasses.dataclass(frozen=True)
class PlanEstimate:
    seconds: list[float | None]   # per planned trial
    params: list[str]             # each trial's parameter count, for a person
    total: float | None           # the sweep (TPE: its trial budget at the base's cost)
    why_unknown: str              # when total is None
    measured: throughput.Measured | None

    def summary(self, plan: sp.Plan) -> str:
        spec = plan.spec
        count = f"{len(plan.trials)} trial(s)" if spec.method != "tpe" else f"up to {spec.trial_cap} trial(s)"
        if self.total is None:
            return f"{count}; estimated total time unknown: {self.why_unknown}"
        return (f"{count}; estimated total time {est.human_seconds(self.total)} "
                f"({self.measured.describe()}, scaled by each trial's FLOPs)")


def estimate_plan(store: st.Store, plan: sp.Plan) -> PlanEstimate:
    measured = throughput.measured(store)
    costs = [trial_cost(store, cfgmod.from_mapping(t.config), measured) for t in plan.trials]
    if plan.spec.method == "tpe":
        seconds, _ = trial_cost(store, plan.base, measured)
        total = None if seconds is None else seconds * (plan.spec.trial_cap or 0)
    else:
        total = None if any(c[0] is None for c in costs) else sum(c[0] for c in costs)
    why = ("no finished run on this machine yet to measure its speed (finish one, e.g. `make quickstart`)"
           if measured is None else "a trial's vocabulary is unknown")
    return PlanEstimate([c[0] for c in costs], [c[1] for c in costs], total, why, measured)


def trial_cost(store: st.Store, cfg: cfgmod.RunConfig, m: throughput.Measured | None) -> tuple[float | None, str]:
    from engine.data.tokenize import vocab_size_for

    try:
        vocab = vocab_size_for(cfg.dataset, cfg.tokenizer, store.datasets_dir)
    except (GptTuiError, ValueError, OSError):
        return None, "?"
    params = est.human_count(est.param_count(cfg, vocab))
    return (None if m is None else throughput.seconds(cfg, vocab, m)), params


def describe(spec: sw.SweepSpec) -> str:
    what = {"grid": "grid over", "random": f"{spec.n_trials} random draws of", "tpe": "TPE search of",
            "list": "hand-picked trials of"}[spec.method]
    parts = [f"{what} {' x '.join(spec.swept)}"]
    if spec.keep_effective_batch:
        parts.append("effective batch kept")
    if spec.scale_lr_with_batch != "none":
        parts.append(f"LR scaled ({spec.scale_lr_with_batch}) with the batch")
    es = spec.early_stopping
    if es.rule != "none":
        eta = f", eta {es.eta}" if es.rule == "asha" else ""
        parts.append(f"early stopping: {es.rule} after {es.n_startup} trials{eta}")
    if spec.max_trials:
        parts.append(f"at most {spec.max_trials} trials")
    if spec.max_total_seconds:
        parts.append(f"at most {est.human_seconds(spec.max_total_seconds)} of training")
    return "; ".join(parts)


# -- the options, as the command line parses them ---------------------------------------

def add_create_options(p: argparse.ArgumentParser, sampled: bool) -> None:
    add_config_options(p)
    p.add_argument("--name", help="the sweep's id (lowercase, at most 18 characters); trials are ID-t001, ...")
    if sampled:
        p.add_argument("-n", "--n-trials", type=int, dest="n_trials", help="how many trials")
    else:
        p.set_defaults(n_trials=None)
    p.add_argument("--seed", type=int, help="seed of the draws (random, tpe)")
    p.add_argument("--keep-effective-batch", action="store_true",
                   help="when batch_size varies, gradient_accumulation_steps follows so batch x accumulation stays")
    p.add_argument("--scale-lr", choices=sw.LR_SCALINGS, help="scale the learning rate with the effective batch")
    p.add_argument("--early-stop", choices=sw.RULES, help="prune trials at eval points: median rule or ASHA")
    p.add_argument("--early-stop-startup", type=int, metavar="N", help="other trials needed before pruning (3)")
    p.add_argument("--early-stop-min-step", type=int, metavar="STEP", help="no pruning before this step")
    p.add_argument("--early-stop-eta", type=int, metavar="ETA", help="ASHA's reduction factor (3)")
    p.add_argument("--max-trials", type=int, metavar="N", help="queue at most N trials")
    p.add_argument("--max-hours", type=float, metavar="H", help="stop queueing once the trials trained this long")
    p.add_argument("--parallel", type=int, metavar="K", help="tpe: trials in flight at once (1)")
    p.add_argument("--priority", type=int, default=0, help="-99..99; higher runs first")
    p.add_argument("--dry-run", action="store_true", help="show the trials and the estimate; queue nothing")
    p.add_argument("--no-engine", action="store_true", help="only queue; do not start an engine")


def action_parsers() -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for method, sampled in (("grid", False), ("random", True), ("tpe", True)):
        p = ArgumentParser(prog=f"gpt-tui sweep {method}", description=f"queue a {method} sweep")
        p.add_argument("params", nargs="*", metavar="NAME=VALUES",
                       help="a,b,c choices; LO:HI uniform; log:LO:HI log-uniform; int:LO:HI integers")
        add_create_options(p, sampled)
        out[method] = p
    p = ArgumentParser(prog="gpt-tui sweep file", description="queue the sweep a TOML file describes")
    p.add_argument("file", type=Path)
    add_create_options(p, True)
    out["file"] = p
    p = ArgumentParser(prog="gpt-tui sweep show", description="a sweep's trial table")
    p.add_argument("sweep", help="the sweep id (`gpt-tui sweep ls`)")
    p.add_argument("--format", choices=("table", "md", "csv"), default="table")
    p.add_argument("--out", "-o", type=Path, help="write the md or csv to this file")
    out["show"] = p
    out["ls"] = ArgumentParser(prog="gpt-tui sweep ls", description="every sweep in the store")
    return out
