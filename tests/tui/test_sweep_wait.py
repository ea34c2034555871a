"""A sweep's state read from its trials (done once they all ended, engine or not), a pruned trial's
last evaluation labelled with its own step, and `gpt-tui sweep ... --wait` following a sweep to its
end as `run --wait` follows a run."""

from __future__ import annotations

import math

import pytest

from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import report
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from tests.serve.test_engine import EngineProc
from tests.tui.test_cli import gpt_tui


def three_trials(tmp_path) -> tuple[stmod.Store, list[str]]:
    """A grid of three queued trials with no engine: their ends are written by hand below."""
    store = stmod.Store(tmp_path / "runs")
    spec = sw.SweepSpec(
        id="lr", method="grid", preset="quickstart", base={}, params={"learning_rate": Choice((1e-3, 3e-3, 1e-2))}
    )
    return store, sf.create(store, sp.plan(spec)).run_ids()


def sweep_ls_state(store: stmod.Store) -> str:
    out = gpt_tui("sweep", "ls", store=store.root, COLUMNS="300")
    assert out.returncode == 0, out.stderr
    (row,) = [line for line in out.stdout.splitlines() if line.startswith("│ lr ")]
    return row.split("│")[8].strip()


def test_a_sweep_whose_trials_all_ended_is_done_in_sweep_ls_with_no_engine_alive(tmp_path):
    store, runs = three_trials(tmp_path)
    assert sweep_ls_state(store) == "in progress"
    store.update_status(runs[0], state="done", final_val_loss=1.5, final_val_ppl=4.48, step=400)
    store.update_status(runs[1], state="pruned", val_loss=2.0, val_ppl=7.39, step=100, reason="worse than the median")
    assert sweep_ls_state(store) == "in progress"  # t003 is still queued
    store.update_status(runs[2], state="failed", step=3, reason="RuntimeError: boom")
    assert not sf.load(store, "lr").finished  # no engine wrote it: the trials alone say so
    assert sweep_ls_state(store) == "done"
    show = gpt_tui("sweep", "show", "lr", store=store.root)
    assert "3 trial(s), 1 finished; sweep done" in " ".join(show.stdout.split())


def test_a_trial_an_engine_will_resume_keeps_its_sweep_in_progress(tmp_path):
    store, runs = three_trials(tmp_path)
    for run_id in runs[:2]:
        store.update_status(run_id, state="done", final_val_loss=1.5, final_val_ppl=4.48, step=400)
    store.update_status(runs[2], state="stopped", step=50, reason="signal 15 (engine stopping)")
    assert sweep_ls_state(store) == "in progress"


def test_sweep_show_labels_a_pruned_trials_last_evaluation_with_the_step_it_was_measured_at(tmp_path):
    store, runs = three_trials(tmp_path)
    evals = [(0, 4.1), (10, 3.2), (20, 2.9)]
    log = "".join(
        stmod.format_record("eval", dict(step=s, val_loss=v, val_ppl=math.exp(v))) for s, v in evals
    ) + stmod.format_record("train", dict(step=27, loss=2.8))
    store.metrics_path(runs[1]).write_text(log)
    # it trained on past its last evaluation (a resumed or stopped trial): the status's step is later
    store.update_status(runs[1], state="pruned", val_loss=2.9, val_ppl=math.exp(2.9), step=27, reason="pruned")
    table = report.build(store, "lr")
    assert report.ppl_text(table.rows[1]) == f"({math.exp(2.9):.2f} at step 20)"
    md = gpt_tui("sweep", "show", "lr", "--format", "md", store=store.root)
    assert f"| t002 | 0.003 | 16 (16x1) | ({math.exp(2.9):.2f} at step 20) | pruned |" in md.stdout, md.stdout


def test_a_trial_with_no_log_is_labelled_with_its_status_step(tmp_path):
    store, runs = three_trials(tmp_path)
    store.update_status(runs[1], state="pruned", val_loss=2.9, val_ppl=math.exp(2.9), step=500, reason="pruned")
    assert report.ppl_text(report.build(store, "lr").rows[1]) == f"({math.exp(2.9):.2f} at step 500)"


@pytest.mark.slow
def test_sweep_wait_follows_every_trial_to_the_end_then_prints_the_table(store):
    engine = EngineProc(store)
    try:
        out = gpt_tui(
            "sweep",
            "grid",
            "learning_rate=1e-2,2e-2",
            *("--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=32", "--set", "block_size=32"),
            *("--set", "batch_size=8", "--set", "max_iters=20", "--set", "eval_interval=10"),
            *("--set", "eval_iters=2", "--set", "warmup_iters=0", "--set", "threads=1", "--set", "device=cpu"),
            "--name",
            "waited",
            "--no-engine",
            "--wait",
            store=store.root,
            timeout=420,
        )
    finally:
        engine.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    text = " ".join(out.stdout.split())
    for trial in ("waited t001", "waited t002"):  # one progress line each, ended `done` with its PPL
        assert any(trial in line and "done" in line and "final val PPL" in line for line in out.stdout.splitlines())
    assert "sweep waited: grid over learning_rate" in text  # the trial table, as `sweep show` prints it
    assert "2 trial(s), 2 finished; sweep done" in text
    states = [store.status(r).state for r in sf.load(store, "waited").run_ids()]
    assert states == ["done", "done"]
