"""The typed [[train]], [[eval]] and [[run]] records: round trips, unknown fields kept, each wrong
field named, and a bad record skipped by the readers."""

from __future__ import annotations

import math

import pytest

from engine.store import runs as st
from engine.store.logformat import format_record
from engine.store.logread import parse_log

TRAIN = {
    "step": 10,
    "tokens": 2560,
    "loss": 3.25,
    "lr": 3e-4,
    "ms_per_iter": 12.5,
    "tokens_per_s": 20480.0,
    "t": 1.7e9,
    "mem_rss": 123456,
}
EVAL = {
    "step": 10,
    "tokens": 2560,
    "train_loss": 3.2,
    "val_loss": 3.3,
    "val_ppl": 27.1,
    "t": 1.7e9,
    "best_val_loss": 3.3,
}
ROW = {
    "run": "20260101-120000-000-a-0000",
    "name": "a",
    "sweep": "",
    "state": "done",
    "n_layer": 1,
    "learning_rate": 3e-3,
    "batch": "8 (8x1)",
    "params": 17504,
    "steps": 20,
    "tokens": 5120,
    "best_val_loss": 3.84,
    "final_val_loss": 3.84,
    "final_val_ppl": 46.5,
    "tokens_per_s": 96294.5,
    "duration_s": 1.3,
    "note": "",
}
KINDS = [(st.TrainRecord, "train", TRAIN), (st.EvalRecord, "eval", EVAL), (st.ResultRow, "run", ROW)]


@pytest.mark.parametrize(("kind", "table", "data"), KINDS)
def test_a_record_round_trips_to_the_same_bytes(kind, table, data):
    typed = kind.from_toml(data, "metrics.toml")
    assert typed.to_toml() == data
    assert format_record(table, typed.to_toml()) == format_record(table, data)
    assert st.parse(table, data) == typed


@pytest.mark.parametrize(("kind", "table", "data"), KINDS)
def test_unknown_fields_are_kept_and_written_back_after_the_known_ones(kind, table, data):
    typed = kind.from_toml({**data, "grad_norm": 0.5, "from_the_future": {"a": 1}}, "metrics.toml")
    assert typed.extra == {"grad_norm": 0.5, "from_the_future": {"a": 1}}
    assert typed.to_toml() == {**data, "grad_norm": 0.5, "from_the_future": {"a": 1}}


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        (st.TrainRecord, {**TRAIN, "step": -1}, "step"),
        (st.TrainRecord, {**TRAIN, "step": 1.0}, "step"),
        (st.TrainRecord, {**TRAIN, "tokens": "many"}, "tokens"),
        (st.TrainRecord, {**TRAIN, "loss": "low"}, "loss"),
        (st.TrainRecord, {**TRAIN, "lr": math.nan}, "lr"),
        (st.TrainRecord, {**TRAIN, "tokens_per_s": -5.0}, "tokens_per_s"),
        (st.TrainRecord, {**TRAIN, "mem_rss": 1e308}, "mem_rss"),
        (st.EvalRecord, {**EVAL, "val_loss": True}, "val_loss"),
        (st.EvalRecord, {**EVAL, "val_ppl": [1.0]}, "val_ppl"),
        (st.ResultRow, {**ROW, "state": "finished"}, "state"),
        (st.ResultRow, {**ROW, "n_layer": 2.5}, "n_layer"),
        (st.ResultRow, {**ROW, "duration_s": math.inf}, "duration_s"),
        (st.ResultRow, {**ROW, "run": 7}, "run"),
    ],
)
def test_each_wrong_field_is_named_with_its_file(kind, data, field):
    with pytest.raises(st.SchemaError, match=rf"runs/x/metrics\.toml.*{field} = "):
        kind.from_toml(data, "runs/x/metrics.toml")
    assert st.parse(kind.TABLE, data) is None


@pytest.mark.parametrize(("kind", "data"), [(st.TrainRecord, {"loss": 1.0}), (st.ResultRow, {"name": "a"})])
def test_a_record_without_its_key_field_is_named(kind, data):
    with pytest.raises(st.SchemaError, match="metrics.toml: a .* record has no"):
        kind.from_toml(data, "metrics.toml")


def test_a_diverged_run_may_log_non_finite_losses():
    typed = st.EvalRecord.from_toml({**EVAL, "val_loss": math.inf, "val_ppl": math.inf, "train_loss": math.nan})
    assert typed.val_loss == math.inf and math.isnan(typed.train_loss)
    row = st.ResultRow.from_toml({**ROW, "final_val_loss": math.nan, "final_val_ppl": math.nan})
    assert math.isnan(row.final_val_ppl)


def test_readers_skip_a_bad_record_and_keep_the_rest(tmp_path):
    text = (
        format_record("train", TRAIN)
        + format_record("train", {**TRAIN, "step": "eleven"})
        + format_record("eval", EVAL)
        + format_record("note", {"text": "a table no reader knows"})
    )
    records = parse_log(text.encode()).records
    assert st.metrics_records(records) == [st.TrainRecord(**TRAIN), st.EvalRecord(**EVAL)]
    assert st.evals(records) == [st.EvalRecord(**EVAL)]
    store = st.Store(tmp_path / "runs")
    st.append_result(store, st.ResultRow.from_toml(ROW))
    st.append_record(store.results_path, "run", {**ROW, "steps": -3})
    st.append_result(store, st.ResultRow.from_toml({**ROW, "name": "b"}))
    assert [row.name for row in st.read_results(store)] == ["a", "b"]
