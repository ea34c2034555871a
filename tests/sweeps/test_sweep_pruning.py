"""Early stopping: the median rule and ASHA as pure verdicts, and the Pruner reading the store."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import pruning
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice
from engine.train.trainer import Events
from tests.sweeps.test_sweep_spec import TINY

losses = st.floats(0.5, 10.0)


@settings(max_examples=300, deadline=None)
@given(losses, st.lists(losses, max_size=12), st.integers(1, 5))
def test_median_rule_prunes_exactly_the_trials_worse_than_the_others_median(value, others, n_startup):
    reason = pruning.median_verdict(value, 20, others, n_startup)
    if len(others) < n_startup:
        assert reason is None
    else:
        assert (reason is not None) == (value > statistics.median(others))


def test_the_median_reason_says_why():
    assert pruning.median_verdict(3.21, 20, [2.9, 2.95, 3.0], 3) == (
        "val loss 3.21 at step 20 is above the median 2.95 of 3 other trials"
    )


def test_asha_rungs_grow_by_eta_on_eval_steps_before_the_end():
    assert pruning.rung_steps(10, 3, 10, 400) == [10, 30, 90, 270]
    assert pruning.rung_steps(25, 2, 10, 200) == [30, 50, 100]  # moved up to eval steps
    assert pruning.rung_steps(10, 3, 10, 30) == [10]  # step 30 is the end: nothing to stop


@settings(max_examples=300, deadline=None)
@given(losses, st.lists(losses, min_size=1, max_size=20), st.integers(2, 4))
def test_asha_keeps_the_top_one_over_eta_at_a_rung(value, others, eta):
    values = sorted([*others, value])
    keep = max(len(values) // eta, 1)
    reason = pruning.asha_verdict(value, 30, others, eta, 1, 1)
    assert (reason is None) == (value <= values[keep - 1])


def test_no_verdict_at_step_zero_before_min_step_or_at_the_end():
    rule = sw.EarlyStopping("median", n_startup=1, min_step=20)
    worse = dict(value=9.0, others=[1.0], eval_interval=10, max_iters=40)
    assert [pruning.verdict(rule, s, **worse) is not None for s in (0, 10, 20, 30, 40)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert pruning.verdict(sw.EarlyStopping("none"), 20, **worse) is None


# -- the Pruner over a store ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = stmod.Store(tmp_path / "runs")
    s.ensure()
    return s


def sweep_with(store, rule: str, n: int = 4) -> sf.SweepRecord:
    spec = sw.SweepSpec(
        id="p",
        method="grid",
        base=dict(TINY),
        params={"learning_rate": Choice(tuple(1e-3 * (i + 1) for i in range(n)))},
        early_stopping=sw.EarlyStopping(rule, n_startup=2),
    )
    return sf.create(store, sp.plan(spec))


def log_evals(store, run_id: str, losses_by_step: dict[int, float]) -> None:
    for step, loss in losses_by_step.items():
        stmod.append_record(store.metrics_path(run_id), "eval", {"step": step, "val_loss": loss})


def test_a_trial_worse_than_the_median_of_the_others_at_the_same_step_is_pruned(store):
    record = sweep_with(store, "median")
    runs = record.run_ids()
    log_evals(store, runs[0], {10: 3.0, 20: 2.5})
    log_evals(store, runs[1], {10: 3.2, 20: 2.7})
    pruner = pruning.for_run(store, runs[3], store.status(runs[3]), 10, 40)
    seen = []
    events = pruner.watch(Events(on_eval=seen.append, should_stop=lambda: None))
    events.on_eval({"step": 10, "val_loss": 3.05})
    assert seen and events.should_stop() is None  # better than the median 3.1: goes on
    events.on_eval({"step": 20, "val_loss": 2.9})
    assert events.should_stop() == "val loss 2.9 at step 20 is above the median 2.6 of 2 other trials"


def test_a_stop_request_wins_over_a_prune_verdict(store):
    record = sweep_with(store, "median")
    runs = record.run_ids()
    log_evals(store, runs[0], {10: 1.0})
    log_evals(store, runs[1], {10: 1.0})
    pruner = pruning.for_run(store, runs[2], store.status(runs[2]), 10, 40)
    events = pruner.watch(Events(should_stop=lambda: "signal SIGTERM"))
    events.on_eval({"step": 10, "val_loss": 5.0})
    assert pruner.reason and events.should_stop() == "signal SIGTERM"


def test_runs_outside_a_sweep_or_without_early_stopping_get_no_pruner(store):
    run_id = store.create_run("", "plain", {})
    assert pruning.for_run(store, run_id, store.status(run_id), 10, 40) is None
    record = sweep_with(store, "none")
    run_id = record.run_ids()[0]
    assert pruning.for_run(store, run_id, store.status(run_id), 10, 40) is None
