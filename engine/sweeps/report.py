"""A sweep's trial table, as the seed's lesson writes it — trial, swept parameters, batch "48 (12x4)",
final val PPL, state, note, the best marked — and how much each parameter mattered. Light: rank
correlation is computed here; Optuna's importances run in `python -m engine.sweeps.report ID`."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from engine.core.config import check_type, format_batch
from engine.store import runs as st
from engine.store.control import read_note
from engine.store.table import read_config
from engine.sweeps import files as sf
from engine.sweeps.trial_evals import last_eval

BATCH_FIELDS = ("batch_size", "gradient_accumulation_steps")  # shown together as "48 (12x4)"
OPTUNA_MIN_TRIALS = 10  # finished trials before Optuna's evaluator is asked instead of rank correlation
RANK_MIN_TRIALS = 3


@dataclass(frozen=True)
class TrialRow:
    number: int
    run: str
    values: dict[str, Any]  # each swept hyperparameter as the trial trained with it
    batch: str
    state: str
    step: int
    max_iters: int
    final_val_loss: float | None
    final_val_ppl: float | None
    val_ppl: float | None  # the latest, for trials that have not finished
    note: str
    eval_step: int | None = None  # the step val_ppl was measured at (None: read none from the log)

    @property
    def trial(self) -> str:
        return f"t{self.number:03d}"


@dataclass(frozen=True)
class Importance:
    method: str  # "spearman", "optuna PedAnovaImportanceEvaluator", or "" when none
    values: dict[str, float]
    why: str = ""  # when there are none: what is missing


@dataclass(frozen=True)
class SweepTable:
    record: sf.SweepRecord
    columns: list[str]
    rows: list[TrialRow]
    best: int | None  # the trial number with the lowest final val loss
    state: str = sf.IN_PROGRESS  # sf.DONE once every trial has ended, engine or not

    @property
    def finished(self) -> list[TrialRow]:
        return [r for r in self.rows if r.state == st.RunState.DONE and r.final_val_loss is not None]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _config_value(cfg: dict[str, Any], name: str, default: Any = None) -> Any:
    """A trial's hyperparameter from its config.toml, or `default` when missing or of the wrong type."""
    try:
        return check_type(name, cfg[name])
    except (KeyError, ValueError):
        return default


def build(store: st.Store, sweep_id: str) -> SweepTable:
    record = sf.load(store, sweep_id)
    columns = [c for c in record.spec.swept if c not in BATCH_FIELDS]
    statuses = sf.trial_statuses(store, record)
    rows = []
    for entry in sorted(record.runs, key=lambda r: r["number"]):  # sf.load typed every entry
        number, run_id = entry["number"], entry["run"]
        status = statuses.get(number)
        cfg = read_config(store, run_id) if run_id else {}  # config.toml as read: checked value by value
        values = {c: _config_value(cfg, c, entry["params"].get(c)) for c in record.spec.swept}
        bs, acc = _config_value(cfg, "batch_size"), _config_value(cfg, "gradient_accumulation_steps")
        note = read_note(store, run_id) if run_id else ""
        if status is None or isinstance(status, st.StoreError):
            state, reason = ("creating", "") if status is None else (st.BROKEN, str(status))
            status = st.Status(st.RunState.QUEUED, reason=reason)
        else:
            state = str(status.state)
        if status.state not in st.ACTIVE and state != str(st.RunState.DONE) and status.reason:
            note = f"{status.reason}{'; ' + note if note else ''}"
        done = state == st.RunState.DONE
        # The status's step is where the trial stopped; its val PPL is from its last eval, maybe
        # earlier (a pruned or stopped trial, one resumed): that eval's step labels it.
        latest = None if done or not run_id or status.val_ppl is None else last_eval(store, run_id)
        rows.append(
            TrialRow(
                number,
                run_id,
                values,
                format_batch(bs, acc) if bs and acc and bs > 0 and acc > 0 else "-",
                state,
                status.step,
                _config_value(cfg, "max_iters") or 0,
                _num(status.final_val_loss) if done else None,
                _num(status.final_val_ppl) if done else None,
                _num(status.val_ppl) if latest is None else latest[1],
                note,
                None if latest is None else latest[0],
            )
        )
    finished = [r for r in rows if r.state == st.RunState.DONE and r.final_val_loss is not None]
    best = min(finished, key=lambda r: r.final_val_loss).number if finished else None
    return SweepTable(record, columns, rows, best, sf.sweep_state(record, statuses))


# -- cells ------------------------------------------------------------------------------


def value_text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def state_text(r: TrialRow) -> str:
    if r.state == st.RunState.RUNNING and r.max_iters:
        return f"running {r.step}/{r.max_iters}"
    return r.state


def ppl_text(r: TrialRow) -> str:
    if r.final_val_ppl is not None:
        return _ppl(r.final_val_ppl)
    step = r.step if r.eval_step is None else r.eval_step
    if r.val_ppl is not None and (step or r.eval_step is not None):
        return f"({_ppl(r.val_ppl)} at step {step})"
    return "-"


def _ppl(v: float) -> str:
    return f"{v:.2f}" if abs(v) < 1e6 else f"{v:.3g}"  # a diverged trial's 1e308 is not 309 digits


def header(t: SweepTable) -> list[str]:
    return ["trial", *t.columns, "batch", "final val PPL", "state", "note"]


def cells(t: SweepTable, r: TrialRow) -> list[str]:
    return [r.trial, *(value_text(r.values.get(c)) for c in t.columns), r.batch, ppl_text(r), state_text(r), r.note]


def to_markdown(t: SweepTable, imp: Importance | None = None) -> str:
    cols = header(t)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in t.rows:
        row = cells(t, r)
        if r.number == t.best:
            row[0] = f"**{row[0]}** (best)"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    if imp is not None:
        lines += ["", importance_text(imp)]
    return "\n".join(lines) + "\n"


def to_csv(t: SweepTable) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["trial", "run", *t.columns, "batch", "final_val_loss", "final_val_ppl", "state", "step", "best", "note"]
    )
    for r in t.rows:
        w.writerow(
            [
                r.trial,
                r.run,
                *(r.values.get(c, "") for c in t.columns),
                r.batch,
                "" if r.final_val_loss is None else r.final_val_loss,
                "" if r.final_val_ppl is None else r.final_val_ppl,
                r.state,
                r.step,
                "yes" if r.number == t.best else "",
                r.note,
            ]
        )
    return buf.getvalue()


# -- how much each parameter mattered ----------------------------------------------------


def ranks(xs: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation; None when either side does not vary."""
    if len(xs) != len(ys) or len(xs) < 2:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def rank_importance(t: SweepTable) -> Importance:
    done = t.finished
    if len(done) < RANK_MIN_TRIALS:
        return Importance("", {}, f"needs {RANK_MIN_TRIALS} finished trials, has {len(done)}")
    losses = [r.final_val_loss for r in done]
    out = {}
    for name in t.record.spec.swept:
        xs = [r.values.get(name) for r in done]
        if all(isinstance(x, (int, float)) for x in xs):  # bools count as 0 and 1; text is left out
            rho = spearman([float(x) for x in xs], losses)
            if rho is not None:
                out[name] = rho
    return Importance("spearman", out, "" if out else "no swept parameter varied among finished trials")


def importance(store: st.Store, t: SweepTable) -> Importance:
    """Optuna's evaluator once there are enough finished trials of a sampled sweep (in a
    subprocess, so the caller never imports optuna), else rank correlation."""
    if len(t.finished) >= OPTUNA_MIN_TRIALS and t.record.spec.params:
        cmd = [sys.executable, "-m", "engine.sweeps.importance", "--runs", str(store.root), t.record.spec.id]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
            data = json.loads(out.stdout)
            return Importance(data["method"], {k: float(v) for k, v in data["values"].items()})
        except (subprocess.SubprocessError, OSError, ValueError, KeyError):
            pass  # rank correlation still answers
    return rank_importance(t)


def importance_text(imp: Importance) -> str:
    if not imp.values:
        return f"How much each parameter mattered: not yet ({imp.why or 'nothing to compare'})."
    if imp.method == "spearman":
        parts = [f"{n} {v:+.2f}" for n, v in sorted(imp.values.items(), key=lambda kv: -abs(kv[1]))]
        return (
            "How much each parameter mattered (Spearman rank correlation with final val loss; "
            "+ means higher values ended worse): " + ", ".join(parts)
        )
    parts = [f"{n} {v:.0%}" for n, v in sorted(imp.values.items(), key=lambda kv: -kv[1])]
    return f"How much each parameter mattered ({imp.method}, share of the final val loss's variation): " + ", ".join(
        parts
    )
