"""Early stopping: the median rule and ASHA as pure verdicts, and the Pruner reading the store."""

from __future__ import annotations

import dataclasses
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import config as cfgmod
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


def test_a_trial_is_not_judged_before_its_warmup_is_over():
    """A long warmup trails early and can end best: judged from the first eval at or after it."""
    median = sw.EarlyStopping("median", n_startup=1)
    worse = dict(value=9.0, others=[1.0], eval_interval=50, max_iters=400)
    judged = [s for s in range(50, 400, 50) if pruning.verdict(median, s, **worse, warmup=120)]
    assert judged == [150, 200, 250, 300, 350]
    every_10 = {**worse, "eval_interval": 10}  # judged at the end of the warmup itself when it is an eval
    assert [s for s in (100, 110, 120, 130) if pruning.verdict(median, s, **every_10, warmup=120)] == [120, 130]
    late_start = sw.EarlyStopping("median", n_startup=1, min_step=200)  # min_step still holds after warmup
    assert [s for s in range(50, 400, 50) if pruning.verdict(late_start, s, **worse, warmup=120)][0] == 200


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["median", "asha"]), st.integers(0, 300), st.integers(1, 300), losses, st.lists(losses))
def test_a_verdict_before_the_end_of_a_trials_warmup_is_always_keep(rule, warmup, step, value, others):
    reason = pruning.verdict(sw.EarlyStopping(rule, n_startup=1, eta=2), step, value, others, 10, 400, warmup)
    assert reason is None or step >= warmup


def test_asha_keeps_the_sweeps_rungs_and_passes_those_inside_a_warmup_unjudged():
    """Rungs at 50 and 150 for every trial: a warmup of 120 is first judged at 150 (rung 1), one of
    200 has no rung left and runs to its end."""
    asha = sw.EarlyStopping("asha", n_startup=1, eta=3)
    worse = dict(value=9.0, others=[1.0, 1.0], eval_interval=50, max_iters=400)
    assert pruning.rung_steps(50, 3, 50, 400) == [50, 150]
    assert [s for s in range(50, 400, 50) if pruning.verdict(asha, s, **worse)] == [50, 150]
    reasons = [pruning.verdict(asha, s, **worse, warmup=120) for s in range(50, 400, 50)]
    assert [r is not None for r in reasons] == [False, False, True, False, False, False, False]
    assert "(rung 1)" in reasons[2]
    assert not any(pruning.verdict(asha, s, **worse, warmup=200) for s in range(50, 400, 50))


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


def trial_config(**changes) -> cfgmod.RunConfig:
    """The config the worker hands the Pruner: evals every 10 steps, 40 steps, no warmup unless given."""
    return dataclasses.replace(cfgmod.DEFAULTS, **{"eval_interval": 10, "max_iters": 40, "warmup_iters": 0, **changes})


def log_evals(store, run_id: str, losses_by_step: dict[int, float]) -> None:
    for step, loss in losses_by_step.items():
        stmod.append_record(store.metrics_path(run_id), "eval", {"step": step, "val_loss": loss})


def test_a_trial_worse_than_the_median_of_the_others_at_the_same_step_is_pruned(store):
    record = sweep_with(store, "median")
    runs = record.run_ids()
    log_evals(store, runs[0], {10: 3.0, 20: 2.5})
    log_evals(store, runs[1], {10: 3.2, 20: 2.7})
    pruner = pruning.for_run(store, runs[3], store.status(runs[3]), trial_config())
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
    pruner = pruning.for_run(store, runs[2], store.status(runs[2]), trial_config())
    events = pruner.watch(Events(should_stop=lambda: "signal SIGTERM"))
    events.on_eval({"step": 10, "val_loss": 5.0})
    assert pruner.reason and events.should_stop() == "signal SIGTERM"


def test_the_pruner_judges_a_trial_from_the_end_of_its_own_warmup(store):
    record = sweep_with(store, "median")
    runs = record.run_ids()
    log_evals(store, runs[0], {10: 1.0, 20: 1.0, 30: 1.0})
    log_evals(store, runs[1], {10: 1.0, 20: 1.0, 30: 1.0})
    pruner = pruning.for_run(store, runs[2], store.status(runs[2]), trial_config(warmup_iters=25))
    pruner.on_eval({"step": 10, "val_loss": 5.0})
    pruner.on_eval({"step": 20, "val_loss": 5.0})
    assert pruner.reason is None  # still warming up: far behind, and not judged
    pruner.on_eval({"step": 30, "val_loss": 5.0})
    assert pruner.reason == "val loss 5 at step 30 is above the median 1 of 2 other trials"
    # A constant learning rate has no warmup to wait for, whatever warmup_iters says.
    constant = pruning.for_run(store, runs[3], store.status(runs[3]), trial_config(warmup_iters=25, decay_lr=False))
    constant.on_eval({"step": 10, "val_loss": 5.0})
    assert constant.reason is not None


def test_runs_outside_a_sweep_or_without_early_stopping_get_no_pruner(store):
    run_id = store.create_run("", "plain", {})
    assert pruning.for_run(store, run_id, store.status(run_id), trial_config()) is None
    record = sweep_with(store, "none")
    run_id = record.run_ids()[0]
    assert pruning.for_run(store, run_id, store.status(run_id), trial_config()) is None
