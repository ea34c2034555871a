"""The runs table as data: its columns, what each cell says, how rows sort and filter."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from engine.store import table as trial
from engine.store.schema import BROKEN, RunState

Row = trial.Row

STATE_BADGES = {
    RunState.RUNNING: ("● running", "bold green"),
    RunState.QUEUED: ("◌ queued", "yellow"),
    RunState.DONE: ("✔ done", "blue"),
    RunState.STOPPED: ("■ stopped", "dim"),
    RunState.FAILED: ("✘ failed", "bold red"),
    RunState.DIVERGED: ("↯ diverged", "magenta"),
    RunState.OOM: ("▲ oom", "red"),
    RunState.PRUNED: ("✂ pruned", "dim"),
    BROKEN: ("? broken", "bold red"),
}


def val_ppl(r: Row) -> float | None:
    if r.final_val_ppl is not None:
        return r.final_val_ppl
    if r.val_loss is not None and r.val_loss < 700:  # exp overflows past ~709
        return math.exp(r.val_loss)
    return None


def progress(r: Row) -> float | None:
    return min(1.0, r.step / r.max_iters) if r.max_iters else None


def label(r: Row) -> str:
    """The name a person gave the run, with its sweep; the id's tail when it has no name."""
    name = r.name or r.run[-12:]
    return f"{r.sweep}/{name}" if r.sweep else name


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    sort_key: Callable[[Row], Any]
    width: int


def _attr(name: str) -> Callable[[Row], Any]:
    return lambda r: getattr(r, name)


# Fixed widths: the layout never jumps as values change, and a long name or note is cut, not
# allowed to push the numbers off screen.
COLUMNS: tuple[Column, ...] = (
    Column("mark", " ", lambda r: None, 2),
    Column("state", "state", _attr("state"), 10),
    Column("name", "name", label, 20),
    Column("progress", "progress", progress, 9),
    Column("n_layer", "layer", _attr("n_layer"), 5),
    Column("n_head", "head", _attr("n_head"), 4),
    Column("n_embd", "embd", _attr("n_embd"), 5),
    Column("block_size", "block", _attr("block_size"), 5),
    Column("learning_rate", "LR", _attr("learning_rate"), 7),
    Column("batch", "batch", lambda r: _batch_total(r.batch), 10),
    Column("params", "params", _attr("params"), 7),
    Column("best_val_loss", "best val", _attr("best_val_loss"), 8),
    Column("val_ppl", "val PPL", val_ppl, 8),
    Column("tokens_per_s", "tok/s", _attr("tokens_per_s"), 7),
    Column("time", "time", lambda r: r.eta_s if r.state == RunState.RUNNING else r.duration_s, 9),
    Column("note", "note", lambda r: r.note or None, 30),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
SORTABLE = tuple(c for c in COLUMNS if c.key != "mark")


def _batch_total(batch: str) -> int | None:
    head = batch.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def column(key: str) -> Column:
    return next(c for c in COLUMNS if c.key == key)


def sort_order(rows: list[Row], key: str, descending: bool = False) -> list[str]:
    """Run ids in the order of column `key`; rows without a value go last either way,
    and ties keep newest first."""
    get = column(key).sort_key
    newest_first = sorted(rows, key=lambda r: r.run, reverse=True)
    present = [r for r in newest_first if get(r) is not None]
    missing = [r for r in newest_first if get(r) is None]
    present.sort(key=get, reverse=descending)
    return [r.run for r in present + missing]


def _bar(fraction: float, width: int = 4) -> str:
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)


# Stored numbers can be anything (1e308, inf, nan): trial.shown and its kin keep every cell narrow.
_num = trial.shown


def _time_cell(r: Row) -> str:
    if r.state == RunState.RUNNING:
        return f"ETA {trial.shown_seconds(r.eta_s)}" if r.eta_s is not None else "starting"
    return trial.shown_seconds(r.duration_s)


NUMERIC = frozenset(
    {
        "n_layer",
        "n_head",
        "n_embd",
        "block_size",
        "learning_rate",
        "params",
        "best_val_loss",
        "val_ppl",
        "tokens_per_s",
        "time",
    }
)


def cells(r: Row, best: bool = False, selected: bool = False) -> dict[str, Text]:
    """Every cell of a row, by column key; Text throughout, so no value is read as markup."""
    badge, style = STATE_BADGES.get(r.state, (r.state, ""))
    frac = progress(r)
    plain = {
        "progress": "-" if frac is None else f"{_bar(frac)} {frac:4.0%}",
        "n_layer": _num(r.n_layer, "d"),
        "n_head": _num(r.n_head, "d"),
        "n_embd": _num(r.n_embd, "d"),
        "block_size": _num(r.block_size, "d"),
        "learning_rate": _num(r.learning_rate, ".3g"),
        "batch": r.batch,
        "params": trial.shown_count(r.params),
        "best_val_loss": _num(r.best_val_loss, ".4f"),
        "val_ppl": _num(val_ppl(r), ".2f"),
        "tokens_per_s": trial.shown_count(r.tokens_per_s),
        "time": _time_cell(r),
        "note": r.note or (r.reason if r.state in (RunState.FAILED, BROKEN, RunState.DIVERGED, RunState.OOM) else ""),
    }
    out = {
        "mark": Text(("✓" if selected else " ") + ("★" if best else " "), style="bold yellow"),
        "state": Text(badge, style=style),
        "name": Text(label(r), style="bold" if best else ""),
    }
    for key, value in plain.items():
        out[key] = Text(
            value, justify="right" if key in NUMERIC else "left", style="dim" if key == "note" and not r.note else ""
        )
    return {key: out[key] for key in COLUMN_KEYS}


# -- filtering --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    """`/` filter: words match id, name, sweep and note; state:X and sweep:Y narrow further."""

    words: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    sweeps: tuple[str, ...] = ()

    def keeps(self, r: Row) -> bool:
        if self.states and not any(r.state.startswith(s) for s in self.states):
            return False
        if self.sweeps and not any(s in r.sweep.lower() for s in self.sweeps):
            return False
        haystack = f"{r.run} {r.name} {r.sweep} {r.note}".lower()
        return all(w in haystack for w in self.words)

    def __bool__(self) -> bool:
        return bool(self.words or self.states or self.sweeps)


def parse_filter(text: str) -> RunFilter:
    words, states, sweeps = [], [], []
    for token in text.lower().split():
        kind, sep, value = token.partition(":")
        if sep and kind == "state":
            states.extend(v for v in value.split(",") if v)
        elif sep and kind == "sweep":
            sweeps.extend(v for v in value.split(",") if v)
        else:
            words.append(token)
    return RunFilter(tuple(words), tuple(states), tuple(sweeps))


__all__ = [
    "COLUMNS",
    "COLUMN_KEYS",
    "Column",
    "Row",
    "RunFilter",
    "cells",
    "label",
    "parse_filter",
    "sort_order",
    "val_ppl",
]
