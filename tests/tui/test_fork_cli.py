"""`gpt-tui fork` from a shell: what it queues, what it says, and each refusal with nothing made."""

from __future__ import annotations

import pytest

from engine.store import runs as st
from tests.store.test_fork_plan import make_parent
from tui.cli.main import main


@pytest.fixture
def store(tmp_path, monkeypatch) -> st.Store:
    monkeypatch.setenv("GPT_TUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    s = st.Store(tmp_path / "runs")
    s.ensure()
    return s


def fork(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["fork", *args, "--no-engine"])
    out = capsys.readouterr()
    return code, " ".join(out.out.split()), " ".join(out.err.split())


def test_a_fork_is_queued_with_its_changes_and_its_lineage(store, capsys):
    parent = make_parent(store)
    code, out, err = fork(
        capsys, parent, "--from", "4", "--set", "learning_rate=1e-4", "--name", "slow", "--fresh-optimizer"
    )
    assert code == 0, err
    (child,) = [r for r in store.list_runs() if r != parent]
    assert f"queued {child}: fork of parent@4 (ckpt step-4.pt, fresh optimizer)" in out
    assert "learning_rate: 0.001 -> 0.0001" in out
    status = store.status(child)
    assert status.name == "slow" and status.parent == parent and status.fresh_optimizer
    assert [e.run_id for e in store.list_queue()] == [child]
    assert main(["show", child]) == 0
    assert "lineage fork of parent@4 (ckpt step-4.pt)" in " ".join(capsys.readouterr().out.split())
    assert main(["delete", parent, "--yes"]) == 0
    capsys.readouterr()
    assert main(["show", child]) == 0
    assert "fork of parent@4 (ckpt step-4.pt); the parent is deleted" in " ".join(capsys.readouterr().out.split())


def test_each_fixed_field_is_refused_by_name_and_nothing_is_made(store, capsys):
    parent = make_parent(store)
    code, _, err = fork(capsys, parent, "--set", "n_layer=2", "--set", "dataset=other.txt", "--set", "max_iters=20")
    assert code == 2
    assert err.startswith("error: 2 problem(s) in --set")
    assert "n_layer: a fork keeps 1 (asked for 2)" in err and "dataset: a fork keeps 'pydocs'" in err
    assert store.list_runs() == [parent] and store.list_queue() == []


@pytest.mark.parametrize(
    "args,words",
    [
        (["--from", "5"], "kept no checkpoint at step 5; it kept steps 0, 4, 8, 12"),
        (["--from", "first"], "--from takes last, best or a step number, got 'first'"),
        ([], "max_iters: the checkpoint is at step 12"),  # a done run from its last: nothing to train
        (["--priority", "100"], "--priority must be from -99 to 99"),
    ],
)
def test_a_fork_that_cannot_be_made_says_why_and_makes_nothing(store, capsys, args, words):
    parent = make_parent(store)
    code, _, err = fork(capsys, parent, *args)
    assert code == 2 and words in err, err
    assert store.list_runs() == [parent]


def test_a_run_with_no_checkpoint_or_no_run_at_all_is_refused(store, capsys):
    assert main(["run", "--set", "max_iters=12", "--name", "waiting", "--no-engine"]) == 0
    (queued,) = store.list_runs()
    capsys.readouterr()
    code, _, err = fork(capsys, queued)
    assert code == 2 and "waiting has no checkpoint yet (queued)" in err
    code, _, err = fork(capsys, "nope")
    assert code == 2 and "no run 'nope'" in err
    assert store.list_runs() == [queued]


def test_a_running_parent_forks_from_its_last_checkpoint_and_says_so(store, capsys):
    parent = make_parent(store, state="running")
    code, out, err = fork(capsys, parent, "--set", "max_iters=20", "--set", "lr_decay_iters=20")
    assert code == 0, err
    assert "parent is running: forking from its last checkpoint (step 12); it goes on training" in err
    assert "fork of parent@12 (ckpt last.pt)" in out and "max_iters: 12 -> 20" in out
