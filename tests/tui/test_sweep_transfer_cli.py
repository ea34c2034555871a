"""`gpt-tui sweep ... --proxy` and `gpt-tui sweep transfer`: a µP proxy sweep run by a real engine, then its
best trial queued at full width; an SP sweep refused unless forced; a bad target refused with nothing queued."""

from __future__ import annotations

import pytest

from engine.core import config as cfgmod
from engine.sweeps import files as sf
from engine.sweeps import report
from tests.serve.test_engine import EngineProc
from tests.sweeps.proxy_store import BEST_LR, add_grid
from tests.tui.test_cli import gpt_tui

TINY = dict(n_layer=1, n_head=2, n_embd=64, block_size=32, batch_size=4, max_iters=8, eval_interval=4, eval_iters=2)
TINY.update(warmup_iters=0, log_interval=1, threads=1, device="cpu", seed=3)


def queued_runs(store) -> list[str]:
    return [e.run_id for e in store.list_queue()]


@pytest.mark.slow
def test_a_proxy_sweep_run_by_an_engine_transfers_its_best_trial_to_full_width(store):
    engine = EngineProc(store)
    try:
        sweep = gpt_tui(
            *("sweep", "grid", "learning_rate=3e-3,1e-2", "--proxy", "n_embd=32", "--name", "px"),
            *(arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")),
            *("--no-engine", "--wait"),
            store=store.root,
            timeout=300,
        )
    finally:
        engine.stop()
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert "µP proxy at n_embd 32 (mup_base_width 32, m = 1) for the base's n_embd 64" in " ".join(sweep.stdout.split())
    for run_id in sf.load(store, "px").run_ids():  # the trials trained at the proxy's width under µP
        c = cfgmod.load(store.config_path(run_id))
        assert (c.n_embd, c.parametrization, c.mup_base_width) == (32, "mup", 32)
    table = report.build(store, "px")
    best = next(r for r in table.rows if r.number == table.best)

    out = gpt_tui("sweep", "transfer", "px", "--to", "n_embd=64", "--no-engine", store=store.root)
    assert out.returncode == 0, out.stdout + out.stderr
    (run_id,) = queued_runs(store)
    c = cfgmod.load(store.config_path(run_id))
    assert (c.n_embd, c.parametrization, c.mup_base_width, c.n_layer) == (64, "mup", 32, 1)
    assert c.learning_rate == best.values["learning_rate"]
    status = store.status(run_id)
    assert status.transferred_from == f"px/{best.trial}" and status.sweep == ""  # not one of the sweep's trials
    text = " ".join(out.stdout.split())
    assert f"best trial {best.trial}" in text and "m = 2 (n_embd 64 / mup_base_width 32)" in text
    assert f"learning_rate = {best.values['learning_rate']!r}" in text
    assert f"proxy px/{best.trial}" in text and "FLOPs/token" in text and "(took)" in text and "(est.)" in text


def test_an_sp_sweep_is_refused_saying_why_and_force_queues_it_in_sp(store):
    add_grid(store, "sp-lr", proxy=False)
    out = gpt_tui("sweep", "transfer", "sp-lr", "--to", "n_embd=128", "--no-engine", store=store.root)
    assert out.returncode == 2
    assert "without µP the best learning rate moves as the model widens" in " ".join(out.stderr.split())
    assert queued_runs(store) == []
    out = gpt_tui("sweep", "transfer", "sp-lr", "--to", "n_embd=128", "--force", "--no-engine", store=store.root)
    assert out.returncode == 0, out.stdout + out.stderr
    (run_id,) = queued_runs(store)
    c = cfgmod.load(store.config_path(run_id))
    assert (c.parametrization, c.n_embd, c.learning_rate) == ("sp", 128, BEST_LR)
    assert store.status(run_id).transferred_from == "sp-lr/t002"
    assert "forced: the sweep trained in SP" in " ".join(out.stdout.split())


def test_a_target_no_run_could_train_is_refused_with_every_problem_and_nothing_queued(store):
    add_grid(store, "proxy", proxy=True)
    out = gpt_tui(
        *("sweep", "transfer", "proxy", "--to", "n_embd=66", "--set", "dropout=2", "--no-engine"), store=store.root
    )
    assert out.returncode == 2, out.stdout + out.stderr
    err = " ".join(out.stderr.split())
    assert "in transfer of proxy" in err and "dropout" in err and "n_embd" in err
    assert queued_runs(store) == []
