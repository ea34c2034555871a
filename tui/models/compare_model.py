"""What the compare screen shows: the hyperparameters that differ, and each run's val loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store import table as trial
from tui.models.editor_model import text_of


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


@dataclass
class Curve:
    """One run's evaluations: val loss by step and by tokens seen."""

    run_id: str
    label: str
    steps: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)

    def add(self, records: list[tuple[str, dict[str, Any]]]) -> bool:
        changed = False
        for table, r in records:
            if table == "eval" and isinstance(r.get("val_loss"), (int, float)):
                self.steps.append(float(r.get("step", 0)))
                self.tokens.append(float(r.get("tokens", 0)))
                self.val_loss.append(float(r["val_loss"]))
                changed = True
        return changed


def read_configs(store: st.Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {run_id: trial.read_config(store, run_id) for run_id in run_ids}
