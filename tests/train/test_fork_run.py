"""A fork trains on from its parent's checkpoint: exactly as the parent did when nothing changes,
with the changes it asked for otherwise, and whatever became of the parent since."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core import config as cfgmod
from engine.core.schedule import get_lr
from engine.store import control
from engine.store import fork as forking
from engine.store import runs as st
from engine.train.worker import EXIT_DONE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

TINY = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=4,
    max_iters=12,
    eval_interval=4,
    eval_iters=2,
    log_interval=1,
    warmup_iters=2,
    lr_decay_iters=12,
    learning_rate=3e-3,
    min_lr=3e-4,
    keep_checkpoints=1,
    threads=1,
    device="cpu",
    dataset="pydocs",
    tokenizer="char",
    seed=7,
)


def train(store: st.Store, run_id: str, caches: Path) -> int:
    """The worker as the engine starts it, to its end."""
    store.update_status(run_id, attempts=store.status(run_id).attempts + 1)
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(caches), "TORCHINDUCTOR_CACHE_DIR": str(caches)}
    with open(store.worker_log(run_id), "ab") as log:
        cmd = [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id)), "--store", str(store.root)]
        return subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=300).returncode


def records(store: st.Store, run_id: str, table: str) -> list[dict]:
    return [r for t, r in st.read_log(store.metrics_path(run_id)).records if t == table]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[st.Store, str]:
    """A store holding one parent trained to step 12, keeping a checkpoint at each eval."""
    root = tmp_path_factory.mktemp("fork") / "runs"
    store = st.Store(root)
    store.ensure()
    cfg = cfgmod.from_mapping(TINY)
    parent = store.create_run(cfgmod.to_toml(cfg), "parent", {"source": "test"})
    assert train(store, parent, root.parent / "caches") == EXIT_DONE, store.worker_log(parent).read_text()
    return store, parent


@pytest.fixture
def copy(trained, tmp_path) -> tuple[st.Store, str]:
    """The trained store, copied: a test may delete the parent."""
    store, parent = trained
    shutil.copytree(store.root, tmp_path / "runs", symlinks=True)
    return st.Store(tmp_path / "runs"), parent


def test_a_parent_keeps_a_checkpoint_each_eval_and_indexes_their_steps(trained):
    store, parent = trained
    ckpt = store.ckpt_dir(parent)
    assert sorted(p.name for p in ckpt.glob("step-*.pt")) == ["step-0.pt", "step-12.pt", "step-4.pt", "step-8.pt"]
    index = st.read_toml(ckpt / "index.toml")
    assert index["last"] == 12 and index["kept"] == [0, 4, 8, 12]
    longer = forking.child_config(forking.parent_config(store, parent), {"max_iters": 20})
    assert forking.plan_fork(store, parent, "last", longer).parent_step == 12


def test_a_fork_with_no_changes_repeats_its_parent_bit_for_bit_after_the_parent_is_deleted(copy, tmp_path):
    store, parent = copy
    want_train, want_eval = records(store, parent, "train"), records(store, parent, "eval")
    child = forking.fork(store, forking.plan_fork(store, parent, "4"))
    assert control.delete(store, parent) == "deleted"
    assert train(store, child, tmp_path / "caches") == EXIT_DONE, store.worker_log(child).read_text()
    got_train, got_eval = records(store, child, "train"), records(store, child, "eval")
    assert [r["step"] for r in got_train] == list(range(5, 13))
    assert [(r["step"], r["tokens"], r["loss"], r["lr"]) for r in got_train] == [
        (r["step"], r["tokens"], r["loss"], r["lr"]) for r in want_train[4:]
    ]
    assert [(e["step"], e["train_loss"], e["val_loss"]) for e in got_eval] == [
        (e["step"], e["train_loss"], e["val_loss"]) for e in want_eval if e["step"] > 4
    ]
    status = store.status(child)
    assert status.state == st.RunState.DONE and status.step == 12
    assert (status.parent, status.parent_name, status.parent_ckpt, status.parent_step) == (
        parent,
        "parent",
        "step-4.pt",
        4,
    )
    assert "fork of parent: starting at its step 4" in store.worker_log(child).read_text()


def test_a_fork_trains_with_its_changes_and_a_fresh_optimizer(copy, tmp_path):
    store, parent = copy
    base = forking.parent_config(store, parent)
    changes = {"learning_rate": 1e-3, "min_lr": 1e-4, "max_iters": 16, "lr_decay_iters": 16, "dropout": 0.1}
    cfg = forking.child_config(base, changes)
    child = forking.fork(store, forking.plan_fork(store, parent, "8", cfg), fresh_optimizer=True)
    assert train(store, child, tmp_path / "caches") == EXIT_DONE, store.worker_log(child).read_text()
    got = records(store, child, "train")
    assert [r["step"] for r in got] == list(range(9, 17))
    assert [r["lr"] for r in got] == [get_lr(r["step"] - 1, cfg) for r in got]  # the child's schedule
    assert got[0]["lr"] != records(store, parent, "train")[8]["lr"]
    status = store.status(child)
    assert status.state == st.RunState.DONE and status.step == 16
    assert status.fresh_optimizer and status.parent_step == 8
    assert "with a fresh optimizer" in store.worker_log(child).read_text()


def test_a_restored_optimizer_takes_the_forks_own_weight_decay_and_betas():
    import numpy as np

    from engine.train.trainer import Trainer

    data = np.random.default_rng(0).integers(0, 50, 4096).astype(np.uint16)
    parent = Trainer(cfgmod.from_mapping(TINY), data, data, 50)
    child_cfg = cfgmod.from_mapping({**TINY, "weight_decay": 0.5, "beta2": 0.9})
    child = Trainer(child_cfg, data, data, 50)
    child.restore(parent.state())
    decays = sorted(g["weight_decay"] for g in child.optimizer.param_groups)
    assert decays == [0.0, 0.5] and {g["betas"] for g in child.optimizer.param_groups} == {(0.9, 0.9)}
