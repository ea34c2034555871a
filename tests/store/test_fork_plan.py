"""Preparing a fork from the store's files alone: which checkpoint, at which step, with which config,
and every way it is refused. No torch: a checkpoint here is any zip archive."""

from __future__ import annotations

import os
import zipfile

import pytest

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.store import control
from engine.store import fork as forking
from engine.store import runs as st
from engine.store.ckpt_files import read_index, write_index

PARENT = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, max_iters=12, eval_interval=4, keep_checkpoints=1)


def fake_checkpoint(path, text: str = "weights") -> None:
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", text)


def make_parent(store: st.Store, state: str = "done", kept=(0, 4, 8, 12), **changes) -> str:
    """A run as a trained one leaves it: last (12), best (8), kept steps and the index."""
    cfg = cfgmod.from_mapping({**PARENT, **changes})
    run_id = store.create_run(cfgmod.to_toml(cfg), "parent", {"source": "test"})
    store.update_status(run_id, state=state)
    ckpt = store.ckpt_dir(run_id)
    for name, step in [("last.pt", 12), ("best.pt", 8), *((f"step-{k}.pt", k) for k in kept)]:
        fake_checkpoint(ckpt / name, f"step {step}")
    write_index(ckpt, ["last.pt"], 12)
    write_index(ckpt, ["best.pt"], 8)
    return run_id


def longer(store: st.Store, run_id: str, **changes) -> cfgmod.RunConfig:
    return forking.child_config(forking.parent_config(store, run_id), {"max_iters": 20, **changes})


def test_the_plan_names_the_checkpoint_and_its_step(store):
    parent = make_parent(store)
    assert read_index(store.ckpt_dir(parent)) == {"last": 12, "best": 8}
    plan = forking.plan_fork(store, parent, "last", longer(store, parent))
    assert (plan.checkpoint, plan.parent_step, plan.parent_name, plan.message) == ("last.pt", 12, "parent", "")
    assert forking.plan_fork(store, parent, "best").parent_step == 8
    kept = forking.plan_fork(store, parent, " 4 ")
    assert (kept.checkpoint, kept.parent_step, kept.config.max_iters) == ("step-4.pt", 4, 12)


def test_an_index_that_cannot_be_read_leaves_the_step_unknown(store):
    parent = make_parent(store)
    (store.ckpt_dir(parent) / "index.toml").write_text("last = 'twelve'\nbest = [")
    plan = forking.plan_fork(store, parent, "last", longer(store, parent))
    assert plan.parent_step is None
    assert forking.plan_fork(store, parent, "4").parent_step == 4  # a kept step is in its name


def test_each_field_the_checkpoint_fixes_is_refused_by_name(store):
    parent = make_parent(store)
    changes = {"n_layer": 2, "n_embd": 64, "dataset": "other.txt", "tokenizer": "byte", "learning_rate": 1e-4}
    with pytest.raises(ConfigError) as e:
        forking.child_config(forking.parent_config(store, parent), changes)
    fields = {p.field: p.message for p in e.value.problems}
    assert set(fields) == {"n_layer", "n_embd", "dataset", "tokenizer"}
    assert "a fork keeps 1 (asked for 2)" in fields["n_layer"] and "blocks" in fields["n_layer"]
    assert "vocabulary" in fields["tokenizer"]


def test_a_fixed_field_in_a_whole_config_is_refused_too(store):
    parent = make_parent(store)
    cfg = cfgmod.from_mapping({**PARENT, "n_head": 4, "max_iters": 20})
    with pytest.raises(ConfigError) as e:
        forking.plan_fork(store, parent, "last", cfg)
    assert [p.field for p in e.value.problems] == ["n_head"]


def test_a_fork_must_train_past_its_checkpoint(store):
    parent = make_parent(store)
    with pytest.raises(ConfigError) as e:
        forking.plan_fork(store, parent, "last")
    assert e.value.problems[0].field == "max_iters" and "at step 12" in e.value.problems[0].message


@pytest.mark.parametrize(
    "source,kept,words",
    [
        ("5", (0, 4, 8, 12), "kept no checkpoint at step 5; it kept steps 0, 4, 8, 12"),
        ("4", (), "keeps last and best only"),
        ("latest", (), "--from takes last, best or a step number, got 'latest'"),
        ("-4", (), "--from takes last, best or a step number"),
    ],
)
def test_a_checkpoint_that_is_not_there_is_refused(store, source, kept, words):
    parent = make_parent(store, kept=kept)
    with pytest.raises(forking.ForkError, match=words):
        forking.plan_fork(store, parent, source)


def test_a_run_without_a_checkpoint_or_without_a_run_is_refused(store):
    queued = control.submit(store, cfgmod.from_mapping(PARENT), "fresh")
    with pytest.raises(forking.ForkError, match="has no checkpoint yet"):
        forking.plan_fork(store, queued)
    with pytest.raises(forking.ForkError, match="no run 'nope'"):
        forking.plan_fork(store, "nope")


def test_a_checkpoint_that_is_a_link_or_cut_short_is_refused(store, tmp_path):
    parent = make_parent(store)
    outside = tmp_path / "elsewhere.pt"
    fake_checkpoint(outside)
    best = store.ckpt_dir(parent) / "best.pt"
    best.unlink()
    best.symlink_to(outside)
    with pytest.raises(forking.ForkError, match="cannot fork from"):
        forking.plan_fork(store, parent, "best")
    (store.ckpt_dir(parent) / "step-4.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(forking.ForkError, match="cut short"):
        forking.plan_fork(store, parent, "4")


def test_a_running_parent_forks_from_its_last_checkpoint_and_says_so(store):
    parent = make_parent(store, state="running")
    plan = forking.plan_fork(store, parent, "last", longer(store, parent))
    assert plan.checkpoint == "last.pt"
    assert plan.message == "parent is running: forking from its last checkpoint (step 12); it goes on training"


def test_the_child_owns_its_checkpoint_and_names_its_parent(store):
    parent = make_parent(store)
    plan = forking.plan_fork(store, parent, "4", longer(store, parent, learning_rate=1e-4))
    child = forking.fork(store, plan, priority=3, fresh_optimizer=True)
    status = store.status(child)
    assert (status.parent, status.parent_name, status.parent_ckpt, status.parent_step) == (
        parent,
        "parent",
        "step-4.pt",
        4,
    )
    assert status.fresh_optimizer and status.name == "parent-fork" and status.source == "cli fork"
    (entry,) = store.list_queue()
    assert entry.run_id == child and entry.priority == 3
    assert forking.parent_config(store, child).learning_rate == 1e-4
    forked = store.ckpt_dir(child) / "fork.pt"
    kept = store.ckpt_dir(parent) / "step-4.pt"
    assert os.path.samefile(forked, kept)  # a hard link: no copy of the weights
    control.delete(store, parent)
    with zipfile.ZipFile(forked) as z:
        assert z.read("data") == b"step 4"


def test_a_fork_that_fails_leaves_nothing_behind(store):
    parent = make_parent(store)
    plan = forking.plan_fork(store, parent, "4")
    (store.ckpt_dir(parent) / "step-4.pt").unlink()  # deleted between the plan and the fork
    with pytest.raises(forking.ForkError, match="is gone"):
        forking.fork(store, plan)
    assert store.list_runs() == [parent] and store.list_queue() == []
    with pytest.raises(forking.ForkError, match="priority"):
        forking.fork(store, plan, priority=100)
    assert store.list_runs() == [parent]
