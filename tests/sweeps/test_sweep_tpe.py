"""TPE through a study rebuilt from the store's trials, and the driver that tops sweeps up —
on synthetic results and hand-written statuses: no training."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store import runs as stmod
from engine.sweeps import distributions as dist
from engine.sweeps import driver, tpe
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice, IntRange, LogUniform, Uniform
from tests.sweeps.test_sweep_spec import TINY

SPACE = {
    "learning_rate": LogUniform(1e-5, 1e-1),
    "dropout": Uniform(0.0, 0.5),
    "n_layer": IntRange(1, 8),
    "bias": Choice((True, False)),
}


def objective(p: dict) -> float:
    """Best at learning_rate 1e-3, dropout 0.1, 4 layers; bias does not matter."""
    return (math.log10(p["learning_rate"]) + 3) ** 2 + (p["dropout"] - 0.1) ** 2 * 10 + abs(p["n_layer"] - 4) / 4


def spec_of(params=SPACE, **changes) -> sw.SweepSpec:
    return sw.SweepSpec(
        **{**dict(id="t", method="tpe", params=params, base=dict(TINY), n_trials=40, seed=5), **changes}
    )


def random_outcomes(n: int, seed: int = 0) -> list[tpe.Outcome]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = {name: dist.sample(d, rng) for name, d in SPACE.items()}
        out.append(tpe.Outcome(p, "done", objective(p)))
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**31))
def test_tpe_proposes_only_inside_the_bounds(history, seed):
    params = tpe.propose(spec_of(seed=seed), random_outcomes(history, seed), history + 1)
    assert set(params) == set(SPACE) and all(dist.contains(SPACE[n], v) for n, v in params.items())


def test_tpe_proposals_move_toward_the_good_region_of_finished_results():
    history = random_outcomes(30)
    proposed = [tpe.propose(spec_of(), history, number) for number in range(31, 46)]
    drawn = [p for p in (sp.random_draw(SPACE, 99, k) for k in range(15))]
    assert statistics.median(map(objective, proposed)) < statistics.median(map(objective, drawn)) / 2
    assert statistics.median(abs(math.log10(p["learning_rate"]) + 3) for p in proposed) < 0.5


def test_a_proposal_is_tied_to_its_trial_number():
    history = random_outcomes(12)
    assert tpe.propose(spec_of(), history, 13) == tpe.propose(spec_of(), history, 13)
    assert tpe.propose(spec_of(), history, 13) != tpe.propose(spec_of(), history, 14)


def test_the_study_holds_pruned_failed_and_running_trials_as_such():
    p = {"learning_rate": 1e-3, "dropout": 0.1, "n_layer": 4, "bias": True}
    study = tpe.study_from(
        [
            tpe.Outcome(p, "done", 1.0),
            tpe.Outcome(p, "pruned", 3.0, 20),
            tpe.Outcome(p, "failed"),
            tpe.Outcome(p, "running"),
            tpe.Outcome({**p, "n_layer": 99}, "done", 0.5),
        ],
        SPACE,
    )  # outside: left out
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED", "FAIL", "RUNNING"]
    assert study.trials[1].intermediate_values == {20: 3.0}


def test_importances_find_the_parameter_that_matters():
    method, values = tpe.importances(SPACE, random_outcomes(30))
    assert method.startswith("optuna") and max(values, key=values.get) == "learning_rate"


# -- the driver, over hand-written statuses --------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = stmod.Store(tmp_path / "runs")
    s.ensure()
    return s


def finish(store, record: sf.SweepRecord, loss_of=lambda p: objective({**p, "dropout": 0.1, "n_layer": 4})):
    """Mark every created trial done with a final val loss from the synthetic objective."""
    for entry in record.runs:
        status = store.status(entry["run"])
        if status.state == "queued":
            store.update_status(entry["run"], state="done", final_val_loss=loss_of(entry["params"]), train_seconds=10.0)
            for q in store.list_queue():
                if q.run_id == entry["run"]:
                    store.cancel(q)


def tpe_sweep(store, **changes) -> sf.SweepRecord:
    spec = spec_of(params={"learning_rate": LogUniform(1e-4, 1e-1)}, **changes)
    return sf.create(store, sp.plan(spec))


def test_the_driver_keeps_parallel_trials_in_flight_and_stops_at_n_trials(store):
    tpe_sweep(store, n_trials=5, parallel=2)
    created = driver.drive(store, log=lambda m: None)
    assert len(created) == 2 and driver.drive(store, log=lambda m: None) == []  # 2 in flight: wait
    for _ in range(5):
        finish(store, sf.load(store, "t"))
        driver.drive(store, log=lambda m: None)
    record = sf.load(store, "t")
    assert [r["number"] for r in record.runs] == [1, 2, 3, 4, 5]
    assert record.finished
    for entry in record.runs:
        status = store.status(entry["run"])
        assert status.sweep == "t" and status.trial == entry["number"]
        assert status.name == f"t-t{entry['number']:03d}"


def test_a_restarted_driver_never_draws_a_trial_number_again(store):
    tpe_sweep(store, n_trials=6)
    for _ in range(3):
        driver.drive(store, log=lambda m: None)
        finish(store, sf.load(store, "t"))
    before = sf.load(store, "t").runs
    # A crash between writing a proposal and creating its run leaves it pending: it is completed.
    record = sf.load(store, "t")
    record.runs.append({"number": 4, "run": "", "params": {"learning_rate": 0.05}})
    sf.save(store, record)
    driver.drive(store, log=lambda m: None)
    after = sf.load(store, "t").runs
    assert after[:3] == before and after[3]["params"] == {"learning_rate": 0.05} and after[3]["run"]
    assert len({r["run"] for r in after}) == len(after) == 4
    assert len({repr(r["params"]) for r in after}) == 4


def test_a_spent_time_budget_cancels_the_trials_still_waiting(store):
    spec = sw.SweepSpec(
        id="g",
        method="grid",
        base=dict(TINY),
        params={"learning_rate": Choice((1e-3, 2e-3, 3e-3))},
        max_total_seconds=15.0,
    )
    record = sf.create(store, sp.plan(spec))
    first = record.run_ids()[0]
    store.cancel(next(q for q in store.list_queue() if q.run_id == first))  # as if an engine ran it
    store.update_status(first, state="done", train_seconds=20.0)
    driver.drive(store, log=lambda m: None)
    record = sf.load(store, "g")
    assert record.stopped == "time budget of 15s spent" and record.finished
    assert [store.status(r).state for r in record.run_ids()] == ["done", "stopped", "stopped"]
    assert not store.list_queue()


def test_a_trial_whose_run_was_created_just_before_a_crash_is_not_created_twice(store):
    tpe_sweep(store, n_trials=2)
    record = sf.load(store, "t")
    record.runs.append({"number": 1, "run": "", "params": {"learning_rate": 0.01}})
    sf.save(store, record)  # the proposal was written down ...
    run_id = sf.submit_trial(store, "t", 1, sp.plan(record.spec).base.to_dict())  # ... and its run created
    driver.drive(store, log=lambda m: None)
    runs = sf.load(store, "t").runs
    assert runs[0] == {"number": 1, "run": run_id, "params": {"learning_rate": 0.01}}
    assert [r for r in store.list_runs() if store.status(r).trial == 1] == [run_id]
