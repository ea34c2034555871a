"""µTransfer without training: a proxy sweep's spec and its trials at the proxy's width under µP, the
proxies refused and why, and the target a transfer builds from the best trial (or refuses to)."""

from __future__ import annotations

import pytest

from engine.core.config import ConfigError
from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw
from engine.sweeps import transfer as xfer
from engine.sweeps.distributions import Choice
from tests.sweeps.proxy_store import BEST_LR, FULL, add_grid


def proxy_spec(**changes) -> sw.SweepSpec:
    values = dict(
        id="proxy", method="grid", base=dict(FULL), params={"learning_rate": Choice((1e-3, 3e-3))}, proxy={"n_embd": 32}
    )
    return sw.SweepSpec(**{**values, **changes})


def test_a_proxy_survives_the_toml_round_trip_and_the_sweep_file(tmp_path):
    spec = proxy_spec()
    text = sw.to_toml(spec)
    assert "[transfer.proxy]\nn_embd = 32" in text or "[transfer]\nproxy = { n_embd = 32 }" in text
    assert sw.from_toml(text) == spec
    written = sw.from_toml(
        'method = "grid"\n[params]\nlearning_rate = [1e-3]\n[transfer]\nproxy = { n_embd = 32 }\n', default_id="x"
    )
    assert written.proxy == {"n_embd": 32}
    store = stmod.Store(tmp_path / "runs")
    sf.create(store, sp.plan(spec))
    assert sf.load(store, "proxy").spec.proxy == {"n_embd": 32}


def test_a_proxy_sweeps_trials_train_at_its_width_under_mup_with_m_1():
    plan = sp.plan(proxy_spec())
    for trial in plan.trials:
        assert (trial.config["n_embd"], trial.config["parametrization"], trial.config["mup_base_width"]) == (
            32,
            "mup",
            32,
        )
    assert plan.spec.base_config(proxied=False).n_embd == 64  # the full width, for the transfer


@pytest.mark.parametrize(
    "changes,field,words",
    [
        (dict(proxy={"n_embd": 30}), "proxy", "n_head 4 does not divide the proxy's n_embd 30"),
        (dict(proxy={"n_layer": 2}), "proxy", "give the proxy's width"),
        (dict(proxy={"n_embd": 128}), "proxy", "wider than the base's 64"),
        (dict(params={"n_embd": Choice((32, 64))}), "n_embd", "do not sweep n_embd"),
    ],
)
def test_a_bad_proxy_is_refused_saying_why(changes, field, words):
    with pytest.raises(ConfigError) as e:
        sp.plan(proxy_spec(**changes))
    assert any(p.field == field and words in p.message for p in e.value.problems), e.value.problems


def test_the_target_is_the_full_base_at_mup_based_at_the_proxy_with_the_best_trials_values(store):
    add_grid(store, "proxy", proxy=True)
    t = xfer.plan_transfer(store, "proxy", {"n_embd": 128})
    c = t.target
    assert (c.n_embd, c.n_layer, c.parametrization, c.mup_base_width, c.width_multiplier) == (128, 1, "mup", 32, 4.0)
    assert (c.learning_rate, c.min_lr, c.warmup_iters, c.max_iters) == (BEST_LR, 3e-4, FULL["warmup_iters"], 200)
    assert t.transferred_from == "proxy/t002" and set(xfer.TRANSFERRED) <= set(t.carried)
    # a learning rate changed on top keeps the trial's min_lr ratio; a depth change is said, not refused
    t = xfer.plan_transfer(store, "proxy", {"n_embd": 64, "n_layer": 2}, {"learning_rate": 1e-3})
    assert (t.target.learning_rate, t.target.min_lr, t.target.n_layer) == (1e-3, 1e-4, 2)
    assert "learning_rate" not in t.carried and "min_lr" not in t.carried and t.carried["beta2"] == 0.99
    assert any(n.startswith("n_layer 1 -> 2 is not a width") for n in t.notes)
    assert any("learning_rate = 0.001 (--set) instead of the trial's 0.003" in n for n in t.notes)


def test_a_transfer_narrower_than_the_proxy_is_refused(store):
    add_grid(store, "proxy", proxy=True)
    with pytest.raises(ConfigError) as e:
        xfer.plan_transfer(store, "proxy", {"n_embd": 16})
    assert "narrower than the 32 the trial was tuned at" in e.value.problems[0].message


def test_an_sp_sweep_is_refused_unless_forced_and_then_stays_sp(store):
    add_grid(store, "sp-lr", proxy=False)
    with pytest.raises(xfer.TransferError, match="without µP the best learning rate moves as the model widens"):
        xfer.plan_transfer(store, "sp-lr", {"n_embd": 128})
    t = xfer.plan_transfer(store, "sp-lr", {"n_embd": 128}, force=True)
    assert (t.target.parametrization, t.target.n_embd, t.target.learning_rate) == ("sp", 128, BEST_LR)
    assert t.notes[0].startswith("forced: the sweep trained in SP")


def test_a_sweep_with_no_finished_trial_is_refused(store):
    sf.create(store, sp.plan(proxy_spec()))  # queued, never run
    with pytest.raises(xfer.TransferError, match="has no finished trial"):
        xfer.plan_transfer(store, "proxy")
