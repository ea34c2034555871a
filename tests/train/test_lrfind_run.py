"""The LR range test's loop: what reaches the optimizer and when it stops (in process, scripted
losses), and an `lrfind` run's worker: stopped on request, started over when it comes back."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from engine.core import config as cfgmod
from engine.core import lrfind as rule
from engine.store import runs as st
from engine.store.records import lr_records
from engine.train.loop_events import Events, StopRequested
from engine.train.lrfind import range_test
from engine.train.trainer import Trainer
from engine.train.worker import EXIT_DONE
from tests.train.test_worker import TINY, start

SMALL = {**TINY, "batch_size": 4}


def tiny_trainer(events: Events | None = None) -> Trainer:
    data = np.random.default_rng(0).integers(0, 50, 4096).astype(np.uint16)
    return Trainer(cfgmod.from_mapping(SMALL), data, data, 50, events=events or Events())


def scripted(trainer: Trainer, losses: list[float]) -> None:
    """The trainer's loss at each step is the next of `losses` (no forward pass)."""
    it = iter(losses)
    trainer.accumulate_gradients = lambda: torch.tensor(next(it))  # type: ignore[method-assign]


def test_each_step_sets_its_rate_times_the_groups_scale_and_records_it():
    trainer = tiny_trainer()
    trainer.optimizer.param_groups[0]["lr_scale"] = 0.5
    seen: list[tuple[float, ...]] = []
    real_step = trainer.optimizer.step

    def step_and_note(*args, **kwargs):
        seen.append(tuple(g["lr"] for g in trainer.optimizer.param_groups))
        return real_step(*args, **kwargs)

    trainer.optimizer.step = step_and_note  # type: ignore[method-assign]
    records: list[dict] = []
    test = range_test(trainer, 1e-4, 1e-2, 12, records.append)
    assert test.steps == 12 and test.early == ""
    assert [r["step"] for r in records] == list(range(1, 13))
    assert [r["lr"] for r in records] == pytest.approx([rule.lr_at(i, 1e-4, 1e-2, 12) for i in range(12)])
    scales = [g.get("lr_scale", 1.0) for g in trainer.optimizer.param_groups]
    assert scales[0] == 0.5 and len(scales) > 1
    for g, scale in enumerate(scales):
        assert [s[g] for s in seen] == pytest.approx([scale * r["lr"] for r in records])
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["smooth"]) for r in records)


@pytest.mark.parametrize("blow_up,words", [(100.0, "passed 4x its minimum"), (math.nan, "became non-finite")])
def test_it_stops_early_when_the_smoothed_loss_blows_up(blow_up, words):
    trainer = tiny_trainer()
    scripted(trainer, [4.0, 3.0, 2.0, 1.0, 1.0, blow_up, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    records: list[dict] = []
    test = range_test(trainer, 1e-4, 1e-1, 12, records.append)
    assert test.steps == 6 and len(records) == 6 and test.early == f"stopped early at step 6: the smoothed loss {words}"


def test_a_stop_request_ends_it_at_the_step_it_was_seen():
    asked = iter([None, None, None, "stop requested"])
    trainer = tiny_trainer(Events(should_stop=lambda: next(asked)))
    with pytest.raises(StopRequested) as stopped:
        range_test(trainer, 1e-4, 1e-1, 12)
    assert stopped.value.step == 3 and stopped.value.reason == "stop requested"


@pytest.mark.slow
def test_an_lrfind_run_stops_on_request_and_starts_over_when_it_comes_back(tmp_path):
    store = st.Store(tmp_path / "runs")
    store.ensure()
    meta = {"source": "test", "kind": "lrfind", "lrfind_min": 1e-6, "lrfind_max": 1e-5, "lrfind_steps": 100_000}
    run_id = store.create_run(cfgmod.to_toml(cfgmod.from_mapping(SMALL)), "lrf", meta)
    proc = start(store, run_id)
    deadline = time.time() + 120
    while time.time() < deadline and len(lr_records(st.read_log(store.metrics_path(run_id)).records)) < 5:
        time.sleep(0.05)
    st.write_toml(store.control_path(run_id), {"request": "stop"})
    assert proc.wait(60) == EXIT_DONE
    status = store.status(run_id)
    assert status.state == "stopped" and status.reason == "stop requested" and status.step >= 5
    assert status.lr_suggested is None
    # Back again (as after an engine restart), now with a range it finishes: it starts from step 0.
    store.control_path(run_id).unlink()
    store.update_status(run_id, lrfind_steps=12, lrfind_max=1e-1)
    assert start(store, run_id).wait(120) == EXIT_DONE
    status = store.status(run_id)
    assert status.state == "done" and status.step == 12 and status.max_iters == 12
    assert status.lr_min_div10 is not None and status.lr_suggested is not None
    steps = [r.step for r in lr_records(st.read_log(store.metrics_path(run_id)).records)]
    assert steps == list(range(1, 13))  # the first attempt's records are gone, each step once
    assert "restarting the LR range test from step 0" in store.worker_log(run_id).read_text()
    assert not st.read_results(store) and not any(store.ckpt_dir(run_id).glob("*.pt"))
