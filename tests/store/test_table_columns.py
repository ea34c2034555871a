"""The trial table's columns, without a terminal: their order, which a narrow one keeps, swept
hyperparameters, trial names, mean throughput, no ETA once a run has ended, and the exports."""

from __future__ import annotations

import csv
import io
import json

from engine.store import columns as spec
from engine.store import export
from engine.store import runs as st
from engine.store import table as trial
from tests.tui_store import RUNNING, SWEEP_TRIALS, add_sweep, build_store

T001, T002, T003 = SWEEP_TRIALS
DROPOUT_TRIALS = {
    "20260103-090000-000-drop-t001-2a01": ({"dropout": 0.0}, dict(best_val_loss=2.1, final_val_ppl=8.2)),
    "20260103-091000-000-drop-t002-2b02": ({"dropout": 0.1}, dict(best_val_loss=2.0, final_val_ppl=7.4)),
}


def rows_of(store) -> dict[str, trial.Row]:
    return {r.run: r for r in trial.rows(store)}


def keys(cols) -> list[str]:
    return [c.key for c in cols]


def test_columns_come_in_the_order_a_person_tunes_by():
    assert keys(spec.COLUMNS_SPEC)[:8] == [
        "state",
        "name",
        "val_ppl",
        "best_val_loss",
        "learning_rate",
        "batch",
        "shape",
        "params",
    ]


def test_at_80_columns_state_name_ppl_lr_and_batch_stay_and_the_rest_drop_by_priority(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store)
    items = list(rows_of(store).values())
    for where, gap in (("app", 2), ("cli", 2)):
        chosen = spec.fit(spec.columns_for(items, where), 80, gap)
        shown = keys(c for c, _ in chosen)
        assert {"state", "name", "val_ppl", "learning_rate", "batch"} <= set(shown), (where, shown)
        assert sum(w + gap for _, w in chosen) <= 80
        kept = max(c.priority for c, _ in chosen)
        assert all(c.priority >= kept for c in spec.columns_for(items, where) if c.key not in shown)


def test_fit_never_narrows_a_column_below_its_width():
    chosen = spec.fit(spec.COLUMNS_SPEC, 60, 2)
    assert all(w == c.width for c, w in chosen if not c.flexible)
    wide = dict((c.key, w) for c, w in spec.fit(spec.COLUMNS_SPEC, 400, 2))
    assert wide["note"] == 30  # the note takes what is left, up to its full width


def test_a_sweep_trial_reads_t001_with_its_sweep_named_once(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store)
    rows = rows_of(store)
    assert spec.label(rows[T001]) == "day38-cpu/t001"
    assert spec.label(rows[RUNNING]) == "lr-grid/lr-grid-1"  # a sweep run with no trial number
    long = add_sweep(store, {"20260104-090000-000-a-t012-3a01": ({}, {})}, sweep="a-very-long-sweep-name")
    cut = spec.label(rows_of(store)[long[0]])
    assert cut == "a-very-long-sw…/t001" and len(cut) == spec.NAME_WIDTH  # the sweep is cut, not the trial


def test_swept_hyperparameters_get_their_own_column_and_min_lr_that_follows_does_not(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store)
    day38 = list(rows_of(store).values())
    assert spec.swept_keys(day38) == ["n_layer", "learning_rate", "batch_size"]  # min_lr follows the LR
    cols = {c.key: c for c in spec.columns_for(day38)}
    assert "min_lr" not in cols and cols["shape"].priority == spec.SWEPT_PRIORITY  # n_layer is in the shape
    add_sweep(store, DROPOUT_TRIALS, sweep="drop")
    cols = spec.columns_for(list(rows_of(store).values()))
    assert keys(cols)[keys(cols).index("shape") + 1] == "dropout"
    dropout = cols[keys(cols).index("dropout")]
    assert [dropout.text(r) for r in trial.rows(store, sweep="drop")] == ["0", "0.1"]


def test_learning_rates_are_written_as_the_lesson_writes_them():
    assert [spec.lr_text(v) for v in (6e-4, 3e-4, 1.5e-3, 2e-3, 0.5, None)] == [
        "6e-4",
        "3e-4",
        "1.5e-3",
        "2e-3",
        "0.5",
        "-",
    ]
    assert spec.lr_text(float("inf")) == "inf" and spec.lr_text("fast") == "?"


def test_tokens_per_s_is_the_runs_mean_and_an_ended_run_has_no_eta(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store)
    rows = rows_of(store)
    assert rows[T001].tokens_per_s == 614_400 / 100  # not the last logged 5,000
    assert rows[T002].tokens_per_s == 409_600 / 80
    assert store.status(T001).eta_s == 4.0 and rows[T001].eta_s is None
    assert rows[RUNNING].eta_s == 212.0
    assert rows[RUNNING].tokens_per_s == 6010.0  # it never recorded its tokens: the rate it logged


def test_a_running_runs_mean_counts_this_attempt_to_its_last_status_write(tmp_path):
    store = build_store(tmp_path / "runs")
    store.update_status(
        RUNNING, tokens=120_000.0, train_seconds=10.0, claimed="2026-01-01T12:00:00Z", updated="2026-01-01T12:00:20Z"
    )
    assert rows_of(store)[RUNNING].tokens_per_s == 120_000 / 30


def test_a_pruned_runs_reason_is_its_note(tmp_path):
    store = build_store(tmp_path / "runs")
    (pruned,) = add_sweep(store, {"20260105-090000-000-p-t001-4a01": ({}, dict(best_val_loss=3.0))}, sweep="p")
    store.update_status(pruned, state="pruned", reason="pruned at step 100: val loss above the median")
    assert spec.note_text(rows_of(store)[pruned]) == "pruned at step 100: val loss above the median"


def test_exports_carry_a_column_for_each_swept_hyperparameter_and_no_eta_for_ended_runs(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store, DROPOUT_TRIALS, sweep="drop")
    add_sweep(store)
    items = trial.rows(store)
    table = list(csv.DictReader(io.StringIO(export.to_csv(items))))
    by_run = {r["run"]: r for r in table}
    assert by_run["20260103-091000-000-drop-t002-2b02"]["dropout"] == "0.1"
    assert by_run[T002]["batch_size"] == "8" and by_run[T002]["trial"] == "2"
    assert by_run[T001]["eta_s"] == "" and by_run[RUNNING]["eta_s"] == "212.0"
    records = json.loads(export.to_json(items))
    assert {r["run"]: r["dropout"] for r in records}["20260103-090000-000-drop-t001-2a01"] == 0.0
    md = export.to_markdown(items)
    header = md.splitlines()[0]
    assert header.startswith("| run | state | name | val PPL |") and "| dropout |" in header
    assert "| day38-cpu/t002 | 7.18 |" in md


def test_a_broken_config_says_nothing_about_what_was_swept(tmp_path):
    store = build_store(tmp_path / "runs")
    add_sweep(store)
    store.config_path(T003).write_text("not toml [")
    assert rows_of(store)[T003].state == st.BROKEN
    assert spec.swept_keys(trial.rows(store, sweep="day38-cpu")) == ["n_layer", "batch_size"]
