"""What a report shows, gathered from the store: each run's val loss curve, final val PPL against each
hyperparameter that varies, how much each mattered, and the trial table. Plain data, no matplotlib;
whatever a store file holds (nan, inf, 1e308, text) that cannot be placed on a chart is left out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.core.config import FIELDS
from engine.core.text import printable
from engine.store import export
from engine.store import runs as st
from engine.store import table as trial
from engine.sweeps import files as sf
from engine.sweeps import report
from engine.sweeps import spec as sw
from engine.sweeps.distributions import LogUniform

PLOT_LIMIT = 1e15  # a value past this is no loss or PPL a run reached; it would only flatten the chart
LOG_AXIS = ("learning_rate", "min_lr")  # spread over decades: drawn on a log axis, as the lesson tunes them
LABEL_WIDTH = 60
METHODS = {"grid": "grid search", "random": "random search", "tpe": "TPE (Optuna)", "list": "hand-picked trials"}


@dataclass(frozen=True)
class Curve:
    """One run's evaluations: (step, tokens or None, val loss), in step order."""

    label: str
    points: list[tuple[float, float | None, float]]
    best: bool = False


@dataclass(frozen=True)
class Points:
    """Final val PPL against one hyperparameter, for the runs that finished with both."""

    name: str
    xs: list[Any]  # numbers, or text for a hyperparameter that is not a number (drawn as categories)
    ppl: list[float]
    log_x: bool
    left_out: int  # finished runs whose value or PPL could not be placed
    names: list[str] = field(default_factory=list)  # each point's trial or run, to mark it by


@dataclass
class ReportData:
    kind: str  # "sweep" or "runs"
    name: str  # the sweep id, or the first run's id
    title: str
    summary: str = ""  # how many finished, and the best
    curves: list[Curve] = field(default_factory=list)
    no_evals: list[str] = field(default_factory=list)  # runs with no evaluation to draw
    points: list[Points] = field(default_factory=list)
    importance: report.Importance = field(default_factory=lambda: report.Importance("", {}, "nothing to compare"))
    table_md: str = ""
    notes: list[str] = field(default_factory=list)  # what could not be read, said once each


def number(v: Any) -> float | None:
    """A stored value as a float a chart can place; None for text, bools, nan, inf and huge values."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer of 4,000 digits
        return None
    return f if math.isfinite(f) and abs(f) <= PLOT_LIMIT else None


def label(text: str) -> str:
    """Stored text as a one-line label: control characters shown, never obeyed; long ones cut."""
    line = printable(" ".join(str(text).split()))
    return line if len(line) <= LABEL_WIDTH else line[: LABEL_WIDTH - 1] + "…"


def read_curve(store: st.Store, run_id: str, name: str, notes: list[str]) -> list[tuple[float, float | None, float]]:
    try:
        records = st.read_log(store.metrics_path(run_id)).records
    except st.StoreError as e:  # a FIFO, a huge file: the run is reported without its curve
        notes.append(f"{name}: metrics.toml cannot be read ({label(str(e))})")
        return []
    points = []
    for record in st.evals(records):
        step, loss = number(record.step), number(record.val_loss)  # a step past a chart's reach is left out
        if step is not None and loss is not None:
            points.append((step, number(record.tokens), loss))
    return sorted(points, key=lambda p: p[0])


def _points(name: str, pairs: list[tuple[Any, Any, str]], log_hint: bool) -> Points | None:
    """Final val PPL against `name` from (value, PPL, who) of each finished run, or None when no
    finished run has both or the value never varies."""
    xs, ppl, names, left_out = [], [], [], 0
    for value, p, who in pairs:
        y = number(p)
        x = label(report.value_text(value)) if isinstance(value, (str, bool)) else number(value)
        if x is None or y is None:
            left_out += 1
            continue
        xs.append(x)
        ppl.append(y)
        names.append(who)
    if len({str(x) for x in xs}) < 2 and not left_out:
        return None
    if len({type(x) for x in xs}) > 1:  # numbers and text mixed (a hand edit): as text
        xs = [label(str(x)) for x in xs]
    numeric = bool(xs) and all(isinstance(x, float) for x in xs)
    log_x = numeric and (log_hint or name in LOG_AXIS) and all(x > 0 for x in xs)
    return Points(name, xs, ppl, log_x, left_out, names) if xs or left_out else None


def sweep_report(store: st.Store, sweep_id: str) -> ReportData:
    """A sweep's report; StoreError (a GptTuiError) for a sweep that is not there or is damaged."""
    t = report.build(store, sweep_id)
    spec = t.record.spec
    method = METHODS.get(spec.method, spec.method)
    data = ReportData("sweep", spec.id, f"Sweep {label(spec.id)}: {len(t.rows)} trial(s), {method}")
    best = next((r for r in t.rows if r.number == t.best), None)
    data.summary = f"{len(t.finished)} of {len(t.rows)} trial(s) finished" + (
        f"; the best is {best.trial}, final val PPL {report.ppl_text(best)}." if best else "."
    )
    for r in t.rows:
        if not r.run:
            continue
        parts = [f"{c}={report.value_text(r.values.get(c))}" for c in t.columns]
        if any(c in spec.swept for c in report.BATCH_FIELDS):
            parts.append(f"batch {r.batch}")
        name = label(f"{r.trial} {', '.join(parts)}")
        points = read_curve(store, r.run, r.trial, data.notes)
        if points:
            data.curves.append(Curve(name, points, r.number == t.best))
        else:
            data.no_evals.append(name)
    done = t.finished
    for name in spec.swept:
        hint = isinstance(spec.params.get(name), LogUniform)
        found = _points(name, [(r.values.get(name), r.final_val_ppl, r.trial) for r in done], hint)
        if found is not None:
            data.points.append(found)
    data.importance = report.importance(store, t)
    data.table_md = report.to_markdown(t)
    return data


def runs_report(store: st.Store, run_ids: list[str]) -> ReportData:
    """Some runs side by side: their curves, PPL against the hyperparameters that differ between them
    (rank correlation with final val loss from 3 finished), and their rows of the trial table."""
    data = ReportData("runs", run_ids[0], f"{len(run_ids)} run(s) compared")
    rows, finals, configs, curves = [], [], {}, []
    for run_id in run_ids:
        status: st.Status | st.StoreError
        try:
            status = store.status(run_id)
        except st.StoreError as e:
            status = e
        row = trial.row_for(store, run_id, status)
        rows.append(row)
        configs[run_id] = trial.read_config(store, run_id)
        done = isinstance(status, st.Status) and status.state == st.RunState.DONE
        finals.append((number(status.final_val_loss), number(row.final_val_ppl)) if done else (None, None))
        name = label(row.name or run_id)
        curves.append((name, run_id, read_curve(store, run_id, name, data.notes)))
    best = trial.best_run(rows)
    finished = [i for i, row in enumerate(rows) if row.state == st.RunState.DONE]
    data.summary = f"{len(finished)} of {len(rows)} run(s) finished" + (
        f"; the best (lowest val loss) is {label(_name(rows, best))}." if best else "."
    )
    for name, run_id, points in curves:
        if points:
            data.curves.append(Curve(name, points, run_id == best))
        else:
            data.no_evals.append(name)
    varied = _differing(list(configs.values()))
    for name in varied:
        found = _points(name, [(configs[run_ids[i]].get(name), finals[i][1], curves[i][0]) for i in finished], False)
        if found is not None:
            data.points.append(found)
    scored = [i for i in finished if finals[i][0] is not None]  # rank correlation needs the final val loss
    data.importance = _rank_importance(varied, [configs[run_ids[i]] for i in scored], [finals[i][0] for i in scored])
    data.table_md = export.to_markdown(rows)
    return data


def _name(rows: list[trial.Row], run_id: str | None) -> str:
    return next((r.name or r.run for r in rows if r.run == run_id), "")


def _differing(configs: list[dict[str, Any]]) -> list[str]:
    """The known hyperparameters whose values are not all the same (a hand-added key is no hyperparameter)."""
    names = [n for n in FIELDS if any(n in c for c in configs)]
    return [n for n in names if len({repr(c.get(n)) for c in configs}) > 1]


def _rank_importance(names: list[str], configs: list[dict[str, Any]], losses: list[Any]) -> report.Importance:
    """engine.sweeps.report's rank correlation, for runs that are no sweep."""
    if len(losses) < report.RANK_MIN_TRIALS:
        why = f"needs {report.RANK_MIN_TRIALS} finished runs with a final val loss, has {len(losses)}"
        return report.Importance("", {}, why)
    out = {}
    for name in names:
        xs = [number(c.get(name)) for c in configs]
        if all(x is not None for x in xs):
            rho = report.spearman([float(x) for x in xs], [float(y) for y in losses])  # type: ignore[arg-type]
            if rho is not None:
                out[name] = rho
    return report.Importance("spearman", out, "" if out else "no hyperparameter varied among finished runs")


def is_sweep(store: st.Store, target: str) -> bool:
    return sw.is_sweep_id(target) and target in sf.ids(store)


def newest_sweep(store: st.Store) -> str | None:
    """The sweep created last (a damaged sweep file is passed over); None when there is none."""
    found = []
    for sweep_id in sf.ids(store):
        try:
            found.append((sf.load(store, sweep_id).created, sweep_id))
        except st.StoreError:
            continue
    return max(found)[1] if found else None
