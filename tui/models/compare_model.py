"""What the compare screen shows: the hyperparameters that differ, and each run's val loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store import table as trial
from tui.models.editor_model import text_of
from tui.models.lineage import parent_evals
from tui.models.series import PLOT_LIMIT
from tui.watcher import Source, settling


def config_diff(configs: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(field, one text per run) for every hyperparameter whose values are not all the same,
    in the config's own order; a run missing a field shows '-'."""
    names = list(cfgmod.FIELDS) + sorted({k for c in configs.values() for k in c} - set(cfgmod.FIELDS))
    out = []
    for name in names:
        values = [c.get(name) for c in configs.values()]
        if any(v != values[0] for v in values[1:]):
            out.append((name, ["-" if v is None else text_of(v) for v in values]))
    return out


def val_point(record: st.EvalRecord) -> tuple[float, float, float] | None:
    """(step, tokens, val loss) of an [[eval]] record; None for one without a val loss, or with
    numbers past what a chart can place (a diverged run's inf, a hand edit)."""
    if record.val_loss is None:
        return None
    point = (float(record.step), float(record.tokens or 0), record.val_loss)
    return point if all(abs(v) <= PLOT_LIMIT for v in point) else None


@dataclass
class Curve:
    """One run's evaluations: val loss by step and by tokens seen."""

    run_id: str
    label: str
    steps: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)

    def add(self, records: list[st.EvalRecord]) -> bool:
        changed = False
        for record in records:
            if (point := val_point(record)) is not None:
                self.steps.append(point[0])
                self.tokens.append(point[1])
                self.val_loss.append(point[2])
                changed = True
        return changed


def read_configs(store: st.Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {run_id: trial.read_config(store, run_id) for run_id in run_ids}


@dataclass
class CompareUpdate:
    """Labels and configs come with the first read only. `records`: by run, whether its log was
    replaced (its curve starts again) and its new [[eval]] records."""

    labels: dict[str, str] | None = None
    configs: dict[str, dict[str, Any]] | None = None
    records: dict[str, tuple[bool, list[st.EvalRecord]]] = field(default_factory=dict)


class CompareFeed(Source[CompareUpdate]):
    """The compare screen's Source: the runs' metrics.toml, read incrementally."""

    def __init__(self, store: st.Store, run_ids: list[str]) -> None:
        self.store = store
        self.run_ids = run_ids
        self.tails = {
            str(store.metrics_path(run_id)): (run_id, st.LogTail(store.metrics_path(run_id))) for run_id in run_ids
        }
        self.first = True
        self.parents: dict[str, list[st.EvalRecord]] = {}  # a fork's parent's evals up to the fork
        self.joined: set[str] = set()  # runs whose curve has its parent's part

    def paths(self) -> list[str]:
        return list(self.tails)

    def read_changed(self, changed: set[str]) -> CompareUpdate | None:
        update = CompareUpdate()
        if self.first:
            statuses = {run_id: _status(self.store, run_id) for run_id in self.run_ids}
            update.labels = {run_id: statuses[run_id].name or run_id[-12:] for run_id in self.run_ids}
            self.parents = {run_id: parent_evals(self.store, status) for run_id, status in statuses.items()}
            update.configs = read_configs(self.store, self.run_ids)
            self.first = False
        again = set()
        for path in changed & self.tails.keys():
            run_id, tail = self.tails[path]
            records = [r for r in st.evals(tail.poll(), path) if val_point(r) is not None]
            if tail.reset or run_id not in self.joined:  # a fork's curve starts with its parent's
                self.joined.add(run_id)
                records = [*(r for r in self.parents.get(run_id, ()) if val_point(r) is not None), *records]
            if records or tail.reset:
                update.records[run_id] = (tail.reset, records)
            if settling(tail):
                again.add(path)
        self.again = frozenset(again)
        return update if update.configs is not None or update.records else None


def _status(store: st.Store, run_id: str) -> st.Status:
    try:
        return store.status(run_id)
    except st.StoreError:
        return st.Status(st.RunState.QUEUED)  # unreadable: no name, no parent
