"""A transfer's two costs side by side — the proxy trial's and the target's parameters, FLOPs per token,
tokens and time — for `gpt-tui sweep transfer` and the app's transfer dialog. Light: no torch."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.errors import GptTuiError
from engine.store import runs as st
from engine.store import throughput
from engine.sweeps.transfer import Transfer


@dataclass(frozen=True)
class Costs:
    header: tuple[str, str, str]  # what, the proxy trial, the target
    rows: list[tuple[str, str, str]]
    how: str  # where the times come from


def vocab_of(store: st.Store, cfg: cfgmod.RunConfig) -> int | None:
    from engine.data.tokenize import vocab_size_for

    try:
        return vocab_size_for(cfg.dataset, cfg.tokenizer, store.datasets_dir, cfg.text_field)
    except (GptTuiError, OSError, ValueError):  # an unreadable corpus: its cells say "?"
        return None


def width_text(cfg: cfgmod.RunConfig) -> str:
    m = f", m = {cfg.width_multiplier:g}" if cfg.parametrization == "mup" else ", SP"
    return f"{cfg.n_layer} x {cfg.n_embd}{m}"


def transfer_costs(store: st.Store, t: Transfer, target: cfgmod.RunConfig | None = None) -> Costs:
    """The trial's time is what it took; the target's is estimated from this machine's earlier runs
    (as a sweep's plan is), else scaled from the trial's own time by the FLOPs of each."""
    trial, target = t.trial_config, target or t.target
    try:
        status: st.Status | None = store.status(t.trial_run)
    except st.StoreError:
        status = None
    trial_vocab = (status.vocab_size if status else 0) or vocab_of(store, trial)
    same_data = (trial.dataset, trial.tokenizer) == (target.dataset, target.tokenizer)
    target_vocab = trial_vocab if same_data else vocab_of(store, target)
    rows = [("model", width_text(trial), width_text(target))]
    for label, fn in (("params", est.param_count), ("FLOPs/token", est.flops_per_token)):
        rows.append((label, *(_count(fn, c, v) for c, v in ((trial, trial_vocab), (target, target_vocab)))))
    rows.append(("tokens", *(est.human_count(est.tokens_per_iter(c) * c.max_iters) for c in (trial, target))))
    took = status.train_seconds if status and status.train_seconds else None
    seconds, how = None, "the target's time is unknown: no finished run on this machine to measure its speed"
    measured = throughput.measured(store)
    if measured is not None and target_vocab:
        seconds, how = throughput.seconds(target, target_vocab, measured), f"target time from {measured.describe()}"
    elif took and trial_vocab and target_vocab:
        ratio = throughput.run_flops(target, target_vocab) / throughput.run_flops(trial, trial_vocab)
        seconds, how = took * ratio, "target time: the trial's, scaled by the FLOPs of each"
    rows.append(
        (
            "time",
            "?" if took is None else f"{est.human_seconds(took)} (took)",
            "?" if seconds is None else f"~{est.human_seconds(seconds)} (est.)",
        )
    )
    return Costs(("", f"proxy {t.transferred_from}", "target"), rows, how)


def _count(fn, cfg: cfgmod.RunConfig, vocab: int | None) -> str:
    return "?" if not vocab else est.human_count(fn(cfg, vocab))


def carried_text(t: Transfer) -> str:
    """`learning_rate 0.0006, min_lr 6e-05, ...`: what the target took from the trial."""
    return ", ".join(f"{k} {v!r}" for k, v in t.carried.items())
