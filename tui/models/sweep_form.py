"""The sweep form's readings of a plan (tui.models.sweep_request): each trial's estimated time and
size, and the sweep described in words. Light: no torch, no optuna."""

from __future__ import annotations

import dataclasses

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.errors import GptTuiError
from engine.store import runs as st
from engine.store import throughput
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw


@dataclasses.dataclass(frozen=True)
class PlanEstimate:
    seconds: list[float | None]  # per planned trial
    params: list[str]  # each trial's parameter count, for a person
    total: float | None  # the sweep (TPE: its trial budget at the base's cost)
    why_unknown: str  # when total is None
    measured: throughput.Measured | None

    def summary(self, plan: sp.Plan) -> str:
        spec = plan.spec
        count = f"{len(plan.trials)} trial(s)" if spec.method != "tpe" else f"up to {spec.trial_cap} trial(s)"
        if self.total is None:
            return f"{count}; estimated total time unknown: {self.why_unknown}"
        return (
            f"{count}; estimated total time {est.human_seconds(self.total)} "
            f"({self.measured.describe()}, scaled by each trial's FLOPs)"
        )


def estimate_plan(store: st.Store, plan: sp.Plan) -> PlanEstimate:
    measured = throughput.measured(store)
    costs = [trial_cost(store, cfgmod.from_mapping(t.config), measured) for t in plan.trials]
    if plan.spec.method == "tpe":
        seconds, _ = trial_cost(store, plan.base, measured)
        total = None if seconds is None else seconds * (plan.spec.trial_cap or 0)
    else:
        total = None if any(c[0] is None for c in costs) else sum(c[0] for c in costs)
    why = (
        "no finished run on this machine yet to measure its speed (finish one, e.g. `make quickstart`)"
        if measured is None
        else "a trial's vocabulary is unknown"
    )
    return PlanEstimate([c[0] for c in costs], [c[1] for c in costs], total, why, measured)


def trial_cost(store: st.Store, cfg: cfgmod.RunConfig, m: throughput.Measured | None) -> tuple[float | None, str]:
    from engine.data.tokenize import vocab_size_for

    try:
        vocab = vocab_size_for(cfg.dataset, cfg.tokenizer, store.datasets_dir, cfg.text_field)
    except (GptTuiError, OSError):  # an unreadable corpus: the estimate says "?"
        return None, "?"
    params = est.human_count(est.param_count(cfg, vocab))
    return (None if m is None else throughput.seconds(cfg, vocab, m)), params


def describe(spec: sw.SweepSpec) -> str:
    what = {
        "grid": "grid over",
        "random": f"{spec.n_trials} random draws of",
        "tpe": "TPE search of",
        "list": "hand-picked trials of",
    }[spec.method]
    parts = [f"{what} {' x '.join(spec.swept)}"]
    if spec.proxy:
        parts.append(f"µP proxy at n_embd {spec.proxy.get('n_embd', '?')}")
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
