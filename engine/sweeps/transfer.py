"""µTransfer: a sweep's best finished trial carried to a wider model — the target's config, what it took
from the trial and what else changes, the refusals — and the target queued with where it came from.
Light: the CLI and the TUI share it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core import config as cfgmod
from engine.core.config import ConfigError, Problem
from engine.core.errors import GptTuiError
from engine.store import control
from engine.store import runs as st
from engine.store.run_files import read_config_or_problem
from engine.sweeps import files as sf
from engine.sweeps import report
from engine.sweeps import spec as sw

# The values µP keeps fixed as the model widens: tuned on the narrow trial, used unchanged at full width.
TRANSFERRED = (
    "learning_rate",
    "min_lr",
    "mup_input_alpha",
    "mup_output_alpha",
    "warmup_iters",
    "weight_decay",
    "beta1",
    "beta2",
)
# Never carried, even when swept: the model's shape is the target's own (µP carries values across width
# and says nothing of depth or context), µP's settings are the transfer's to set, and where and how a run
# trains (device, threads, seed) is no tuned value. Any other swept field is carried.
NOT_CARRIED = (
    "n_layer",
    "n_head",
    "n_embd",
    "block_size",
    "parametrization",
    "mup_base_width",
    "device",
    "dtype",
    "compile",
    "seed",
    "threads",
    "gpus",
)
WIDTH_FIELDS = ("n_embd", "n_head")  # what --to is for; a --to that changes more says what


class TransferError(GptTuiError):
    """A sweep whose best trial cannot be carried to a wider model, and why."""


@dataclass(frozen=True)
class Transfer:
    sweep_id: str
    trial: int
    trial_run: str
    trial_config: cfgmod.RunConfig  # the best trial's, as it trained
    target: cfgmod.RunConfig
    carried: dict[str, Any]  # what the target took from the trial unchanged, by field
    notes: list[str]  # what else changes; a forced SP sweep's caveat
    final_val_ppl: float | None = None

    @property
    def transferred_from(self) -> str:
        return f"{self.sweep_id}/t{self.trial:03d}"

    @property
    def default_name(self) -> str:
        return f"{self.sweep_id}-w{self.target.n_embd}"


def carried_names(spec: sw.SweepSpec) -> list[str]:
    names = [*TRANSFERRED, *spec.swept]
    if spec.keep_effective_batch and "batch_size" in spec.swept:
        names.append("gradient_accumulation_steps")  # the rule set it with the batch the trial swept
    return [n for n in dict.fromkeys(names) if n in cfgmod.FIELDS and n not in NOT_CARRIED]


def tuned_width(trial: cfgmod.RunConfig) -> int:
    """The width the trial's values are tuned for: µP's base (0 means its own width), else its width."""
    return (trial.mup_base_width or trial.n_embd) if trial.parametrization == "mup" else trial.n_embd


def best_trial(store: st.Store, sweep_id: str) -> tuple[sw.SweepSpec, report.TrialRow, cfgmod.RunConfig]:
    """The sweep's spec, its best finished trial and that trial's config; TransferError when none finished."""
    table = report.build(store, sweep_id)
    row = next((r for r in table.rows if r.number == table.best), None)
    if row is None:
        states = ", ".join(sorted({r.state for r in table.rows})) or "none created yet"
        raise TransferError(
            f"sweep {sweep_id} has no finished trial ({len(table.rows)} trial(s): {states}); a transfer carries "
            f"the best finished trial's values: wait for one (`gpt-tui sweep show {sweep_id}`)"
        )
    data, problem = read_config_or_problem(store, row.run)
    try:
        cfg = cfgmod.from_mapping(data, source=f"run {row.run} config.toml")
    except ConfigError as e:
        raise TransferError(f"the best trial's config cannot be read: {problem or e.problems[0]}") from None
    return table.record.spec, row, cfg


def plan_transfer(
    store: st.Store,
    sweep_id: str,
    to: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    force: bool = False,
    caps: cfgmod.DeviceCaps | None = None,
) -> Transfer:
    """The best trial carried to `to` (default: the sweep base's width), `overrides` on top; TransferError
    or ConfigError (every problem of the target, as for any run) when it cannot be."""
    spec, row, trial = best_trial(store, sweep_id)
    target, carried, notes = target_config(spec, trial, to, overrides, force, caps)
    return Transfer(spec.id, row.number, row.run, trial, target, carried, notes, row.final_val_ppl)


def target_config(
    spec: sw.SweepSpec,
    trial: cfgmod.RunConfig,
    to: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    force: bool = False,
    caps: cfgmod.DeviceCaps | None = None,
) -> tuple[cfgmod.RunConfig, dict[str, Any], list[str]]:
    """The sweep's full-width base at `to`, µP based at the trial's tuned width (m = target / tuned), with the
    trial's transferable values, then `overrides`; with what was carried and notes on what else changes."""
    full = spec.base_config(caps, proxied=False)
    to = dict(to or {"n_embd": full.n_embd})
    mup = trial.parametrization == "mup"
    if not mup and not force:
        raise TransferError(
            f"sweep {spec.id} trained in SP (parametrization 'sp') and is not a proxy: without µP the best "
            "learning rate moves as the model widens, so its best trial's values would not hold at "
            f"n_embd {to.get('n_embd', full.n_embd)}. Tune a µP proxy instead (`gpt-tui sweep grid ... "
            "--proxy n_embd=W`), or give --force to copy the values anyway"
        )
    tuned, names = tuned_width(trial), carried_names(spec)
    mapping = {**full.to_dict(), **{n: getattr(trial, n) for n in names}, **to}
    if mup:
        mapping.update(parametrization="mup", mup_base_width=tuned)
    asked = {**to, **(overrides or {})}
    mapping.update(overrides or {})
    lr_asked = "learning_rate" in asked and "min_lr" not in asked
    if lr_asked and isinstance(asked["learning_rate"], float) and trial.learning_rate > 0:
        mapping["min_lr"] = float(f"{asked['learning_rate'] * trial.min_lr / trial.learning_rate:.12g}")
    width = mapping.get("n_embd")
    if mup and type(width) is int and width < tuned:
        raise ConfigError(
            [
                Problem(
                    "--to",
                    f"n_embd {width} is narrower than the {tuned} the trial was tuned at; µTransfer carries "
                    f"tuned values to a wider model: give --to n_embd={max(tuned, full.n_embd)} or more",
                )
            ],
            f"transfer of {spec.id}",
        )
    target = cfgmod.from_mapping(mapping, cfgmod.DEFAULTS, caps, source=f"transfer of {spec.id}")
    kept = {n: getattr(trial, n) for n in names if n not in asked and not (n == "min_lr" and lr_asked)}
    notes = _notes(trial, target, to, overrides or {}, names, tuned)
    if lr_asked:
        notes.append(f"min_lr {target.min_lr!r} keeps the trial's ratio to its learning rate")
    return target, kept, notes


def _notes(
    trial: cfgmod.RunConfig,
    target: cfgmod.RunConfig,
    to: Mapping[str, Any],
    overrides: Mapping[str, Any],
    names: list[str],
    tuned: int,
) -> list[str]:
    notes = []
    if trial.parametrization != "mup":
        notes.append(
            f"forced: the sweep trained in SP, so its values are copied into an SP model at n_embd {target.n_embd}, "
            "where the best learning rate is likely lower; treat them as a starting point"
        )
    elif target.n_embd == tuned:
        notes.append("the target is as wide as the trial was tuned at (m = 1); give --to n_embd=W to go wider")
    for key in to:
        if key not in WIDTH_FIELDS and key in cfgmod.FIELDS and getattr(trial, key) != getattr(target, key):
            notes.append(
                f"{key} {getattr(trial, key)!r} -> {getattr(target, key)!r} is not a width: µP carries the "
                "tuned values across width only, so they may not hold across this change"
            )
    for key in overrides:
        if key in names and key in cfgmod.FIELDS and getattr(trial, key) != getattr(target, key):
            notes.append(f"{key} = {getattr(target, key)!r} (--set) instead of the trial's {getattr(trial, key)!r}")
    return notes


def submit(
    store: st.Store,
    t: Transfer,
    cfg: cfgmod.RunConfig | None = None,
    name: str | None = None,
    priority: int = 0,
    source: str = "cli transfer",
) -> str:
    """Queue the target (or `cfg`, the target as edited), its status naming the trial it came from."""
    return control.submit(
        store, cfg or t.target, name or t.default_name, priority, source=source, transferred_from=t.transferred_from
    )


def sweeps_with_best(store: st.Store) -> list[tuple[str, int]]:
    """(sweep id, its base's full width) of each sweep with a finished trial, the newest first; a damaged
    sweep file is passed over (`gpt-tui sweep ls` says what is wrong with it)."""
    found = []
    for sweep_id in sf.ids(store):
        try:
            table = report.build(store, sweep_id)
            if table.best is not None:
                spec = table.record.spec
                found.append((table.record.created, sweep_id, spec.base_config(proxied=False).n_embd))
        except GptTuiError:
            continue
    return [(sweep_id, width) for _, sweep_id, width in sorted(found, reverse=True)]
