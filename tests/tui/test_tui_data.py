"""What the TUI shows, tested without Textual: table cells, filters, sorting, series, tails,
form checks, estimates and config diffs."""

from __future__ import annotations

import math

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store import table as trial
from engine.store.tail import TextTail
from tests.tui_store import RUNNING, RUNS, build_store
from tui.models import editor_model as em
from tui.models.compare_model import config_diff
from tui.models.runs_reader import RunsReader
from tui.models.runs_view import cells, parse_filter, sort_order
from tui.models.series import RunSeries, points


def rows_of(store):
    return {r.run: r for r in trial.rows(store)}


def test_cells_write_the_batch_as_the_seed_does_and_mark_the_best(tmp_path):
    store = build_store(tmp_path / "runs")
    rows = rows_of(store)
    deeper = cells(rows["20260101-100000-000-deeper-0b02"], best=True, selected=True)
    assert deeper["batch"].plain == "16 (8x2)"
    assert deeper["mark"].plain == "✓★"
    assert deeper["state"].plain == "✔ done" and deeper["val_ppl"].plain == "4.26"
    running = cells(rows[RUNNING])
    assert running["progress"].plain.endswith("31%") and running["time"].plain == "ETA 3m32s"
    assert running["name"].plain == "lr-grid/lr-grid-1"
    assert cells(rows["20260101-090000-000-baseline-0a01"])["note"].plain == "good start"


def test_filter_words_state_and_sweep():
    f = parse_filter("state:run sweep:lr grid")
    assert f.states == ("run",) and f.sweeps == ("lr",) and f.words == ("grid",)
    assert not parse_filter("  ")


def test_filter_keeps_only_matching_rows(tmp_path):
    rows = rows_of(build_store(tmp_path / "runs"))
    kept = lambda text: sorted(r.name for r in rows.values() if parse_filter(text).keeps(r))  # noqa: E731
    assert kept("state:done") == ["baseline", "deeper"]
    assert kept("sweep:lr-grid") == ["lr-grid-1", "lr-grid-2"]
    assert kept("good") == ["baseline"]  # the note
    assert kept("state:done,stopped slow") == ["slow-lr"]


def test_sort_puts_missing_values_last_both_ways(tmp_path):
    rows = list(rows_of(build_store(tmp_path / "runs")).values())
    up = sort_order(rows, "best_val_loss")
    down = sort_order(rows, "best_val_loss", descending=True)
    assert up[0].endswith("deeper-0b02") and down[0].endswith("lr-grid-1-0d04")
    assert set(up[-2:]) == set(down[-2:]) == {"20260101-130000-000-lr-grid-2-0e05", "20260101-140000-000-too-hot-0f06"}


def test_reader_reads_a_run_again_only_when_its_files_change(tmp_path, monkeypatch):
    store = build_store(tmp_path / "runs")
    reader = RunsReader(store)
    assert len(reader.read()) == len(RUNS)
    reads = []
    original = store.status
    monkeypatch.setattr(store, "status", lambda run_id: reads.append(run_id) or original(run_id))
    reader.read()
    assert reads == []
    store.update_status(RUNNING, step=260)
    reads.clear()
    assert reader.read()[RUNNING].step == 260 and reads == [RUNNING]


def test_series_back_fills_keys_seen_late_and_thins_points():
    s = RunSeries()
    s.add([st.TrainRecord(1, loss=2.0), st.EvalRecord(0, val_loss=3.0), st.TrainRecord(2, loss=1.5, mfu=0.3)])
    assert s.train.get("loss") == [2.0, 1.5] and math.isnan(s.train.get("mfu")[0]) and s.train.has("mfu")
    assert s.step == 2
    xs, ys = points(list(range(1000)), [float(i) for i in range(1000)], limit=100)
    assert len(xs) <= 100 and xs[-1] == 999


def test_text_tail_returns_only_complete_new_lines(tmp_path):
    path = tmp_path / "worker.log"
    tail = TextTail(path)
    assert tail.poll() == []
    path.write_text("one\ntw")
    assert tail.poll() == ["one"]
    with open(path, "a") as f:
        f.write("o\nthree\n")
    assert tail.poll() == ["two", "three"]
    assert tail.poll() == []


def test_text_tail_starts_near_the_end_of_a_long_log(tmp_path):
    path = tmp_path / "worker.log"
    path.write_text("".join(f"line {i}\n" for i in range(20000)))
    lines = TextTail(path).poll()
    assert lines[-1] == "line 19999" and len(lines) < 3000 and lines[0].startswith("line ")


def test_form_problems_belong_to_their_fields():
    texts = em.form_texts(cfgmod.preset("quickstart"))
    check = em.check_form({**texts, "batch_size": "12x4", "n_head": "5"})
    assert check.config is None
    assert "gradient_accumulation_steps=4" in check.problems["batch_size"][0]
    assert "divisible" in check.problems["n_embd"][0]
    ok = em.check_form({**texts, "learning_rate": "3e-4"})
    assert ok.config is not None and ok.config.learning_rate == 3e-4 and ok.problems == {}


def test_time_estimate_is_measured_from_finished_runs_on_the_device(tmp_path):
    store = build_store(tmp_path / "runs")
    cal = em.calibrate(store, "AMD EPYC")
    assert cal is not None and cal.runs == 2
    cfg = cfgmod.preset("quickstart")
    lines = {ln.label: ln for ln in em.estimate_lines(cfg, 103, em.Device("AMD EPYC", "cpu", 2**34), cal)}
    assert "measured from 2 finished runs" in lines["time"].note
    assert lines["memory"].note.startswith("under 1% of 16.00 GiB RAM")
    assert em.calibrate(store, "NVIDIA H100") is None
    gpu = em.Device("NVIDIA H100 80GB HBM3", "cuda", 80 * 2**30, 989.5e12)
    guess = {ln.label: ln for ln in em.estimate_lines(cfg, 103, gpu, None)}
    assert "40% MFU" in guess["time"].note and "VRAM" in guess["memory"].note


def test_config_diff_lists_only_fields_that_differ():
    a, b = cfgmod.preset("quickstart").to_dict(), cfgmod.preset("quickstart").to_dict()
    b["n_layer"], b["learning_rate"] = 6, 3e-4
    assert config_diff({"a": a, "b": b}) == [("n_layer", ["4", "6"]), ("learning_rate", ["0.001", "0.0003"])]
    assert config_diff({"a": a, "c": dict(a)}) == []
