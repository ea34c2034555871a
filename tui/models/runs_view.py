"""The runs table as data: its columns (engine.store.columns, with the app's mark and badges), what
each cell says, how rows sort and filter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from engine.store import columns as spec
from engine.store import table as trial
from engine.store.columns import Column, label, progress, val_ppl
from engine.store.schema import BROKEN, KIND_LRFIND, KIND_PREPARE, RunState

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

# The selection and best-run mark: the app's own column, never dropped.
MARK = Column("mark", " ", 0, 2, lambda r: "", lambda r: None, where="app")


def columns_for(rows: Sequence[Row]) -> list[Column]:
    """The app's columns for these rows: the mark, then the shared list with a column for each
    swept hyperparameter."""
    return [MARK, *spec.columns_for(rows, "app")]


# Without rows: the fixed columns, for the sort dialog and the tests.
COLUMNS: tuple[Column, ...] = tuple(columns_for(()))
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
SORTABLE = tuple(c for c in COLUMNS if c.key != "mark")


def column(key: str) -> Column:
    """The column `key`: a fixed one, or a swept hyperparameter's."""
    return next((c for c in COLUMNS if c.key == key), None) or spec.swept_column(key)


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


def cells(r: Row, best: bool = False, selected: bool = False, cols: Sequence[Column] = COLUMNS) -> dict[str, Text]:
    """Every cell of a row, by column key; Text throughout, so no value is read as markup."""
    badge, style = STATE_BADGES.get(r.state, (r.state, ""))
    if r.kind == KIND_LRFIND and r.state != BROKEN:  # its state's mark and colour, and what it is: "✔ lr-find"
        badge = f"{badge.split(' ')[0]} {spec.LRFIND_BADGE}"
    elif r.kind == KIND_PREPARE and r.state != BROKEN:  # "⚙ prepare" while it works, else its state's mark
        badge = f"{'⚙' if r.state == RunState.RUNNING else badge.split(' ')[0]} {spec.PREPARE_BADGE}"
    frac = progress(r)
    out = {}
    for col in cols:
        if col.key == "mark":
            out["mark"] = Text(("✓" if selected else " ") + ("★" if best else " "), style="bold yellow")
        elif col.key == "state":
            out["state"] = Text(badge, style=style)
        elif col.key == "name":
            out["name"] = Text(label(r), style="bold" if best else "")
        elif col.key == "progress":
            out["progress"] = Text("-" if frac is None else f"{_bar(frac)} {frac:4.0%}", justify="right")
        elif col.key == "note":
            # The person's note, then its suggestion or lineage; dim while it has no note.
            out["note"] = Text(spec.app_note_text(r), style="" if r.note else "dim", overflow="ellipsis")
        else:
            out[col.key] = Text(col.text(r), justify="right" if col.numeric else "left")
    return out


NUMERIC = frozenset(c.key for c in COLUMNS if c.numeric)


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
        haystack = f"{r.run} {r.name} {r.sweep} {spec.short_name(r)} {r.note} {r.kind}".lower()
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
    "column",
    "columns_for",
    "label",
    "parse_filter",
    "sort_order",
    "val_ppl",
]
