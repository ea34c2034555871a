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


# 24 points: a discrete space TPE can use up.
DISCRETE = {"learning_rate": Choice((1e-4, 1e-3, 1e-2)), "n_layer": IntRange(1, 4), "bias": Choice((True, False))}


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


def discrete_outcome(p: dict, number: int) -> tpe.Outcome:
    """Trial `number` of a sweep over DISCRETE, ended in every way a trial can end."""
    loss = objective({**p, "dropout": 0.1})
    if number % 5 == 0:
        return tpe.Outcome(p, "pruned", loss + 1, 20)
    if number % 7 == 0:
        return tpe.Outcome(p, "running")
    return tpe.Outcome(p, "failed") if number % 11 == 0 else tpe.Outcome(p, "done", loss)


def tried(history: list[tpe.Outcome]) -> set[tuple]:
    return {tpe.point_key(DISCRETE, o.params) for o in history}


@pytest.mark.parametrize("seed", [0, 7])
def test_tpe_never_proposes_a_tried_point_while_an_untried_one_remains(seed):
    """Running, finished, pruned or failed: a point tried is not trained again; the space used up, None."""
    spec = spec_of(DISCRETE, n_trials=40, seed=seed)
    history: list[tpe.Outcome] = []
    for number in range(1, 25):
        params = tpe.propose(spec, history, number)
        assert params is not None and all(dist.contains(DISCRETE[n], v) for n, v in params.items())
        assert tpe.point_key(DISCRETE, params) not in tried(history)
        history.append(discrete_outcome(params, number))
    assert tpe.propose(spec, history, 25) is None


def test_a_proposal_away_from_tried_points_is_still_tied_to_its_trial_number():
    """The engine re-proposes a number after a restart: the same (spec, trials, number), the same params,
    also when TPE's first ask was a repeat and when only the fallback is left."""
    spec = spec_of(DISCRETE, n_trials=40)
    points = list(sp.grid(DISCRETE))
    best_first = sorted(points, key=lambda p: objective({**p, "dropout": 0.1}))
    for n_tried in (12, 23):  # the good half tried: TPE asks for it again; one point left: it must come
        history = [tpe.Outcome(p, "done", objective({**p, "dropout": 0.1})) for p in best_first[:n_tried]]
        first = tpe.propose(spec, history, n_tried + 1)
        assert first == tpe.propose(spec, history, n_tried + 1)
        assert first is not None and tpe.point_key(DISCRETE, first) not in tried(history)
    assert first == best_first[23]


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


def test_the_driver_stops_a_tpe_sweep_once_every_point_of_its_space_has_been_tried(store):
    spec = spec_of(params={"learning_rate": Choice((1e-4, 1e-3, 1e-2))}, n_trials=10, parallel=2)
    sf.create(store, sp.plan(spec))
    logged: list[str] = []
    for _ in range(4):
        driver.drive(store, log=logged.append)
        finish(store, sf.load(store, "t"))
    driver.drive(store, log=logged.append)
    record = sf.load(store, "t")
    assert sorted(r["params"]["learning_rate"] for r in record.runs) == [1e-4, 1e-3, 1e-2]
    assert record.stopped == "every one of the space's 3 points has been tried" and record.finished
    assert logged.count("sweep t: no more trials: every one of the space's 3 points has been tried") == 1
    assert sf.sweep_state(record, sf.trial_statuses(store, record)) == sf.DONE


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
