"""Store files written to attack: a checkpoint that carries code, a config holding terminal escape
sequences, a list sweep of absurd length. Each is refused or shown harmlessly, saying what to do."""

from __future__ import annotations

import pickle
import subprocess

import pytest
import torch

from engine.core.text import printable
from engine.store import runs as st
from engine.sweeps import spec as sw
from engine.train import checkpoint
from tests.train.test_worker import new_run, run_to_end
from tests.tui.test_cli import gpt_tui

pytestmark = pytest.mark.slow


class RunsCode:
    """Unpickling this would run a command: what a booby-trapped checkpoint carries."""

    def __reduce__(self):
        return (subprocess.call, (["touch", "/tmp/gpt-tui-pwned"],))


def test_a_checkpoint_that_carries_code_is_refused_without_advice_to_load_it_anyway(store, tmp_path):
    path = tmp_path / "last.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": RunsCode()}, f)
    with pytest.raises(checkpoint.CheckpointRefused) as refused:
        checkpoint.load(path)
    message = str(refused.value)
    assert "last.pt" in message and "refused" in message and "weights_only" not in message
    # Through a worker's resume: the file is skipped, the run starts over, the log gives no such advice.
    run_id = new_run(store, max_iters=10)
    store.ckpt_dir(run_id).mkdir(parents=True)
    torch.save({"step": 3}, store.ckpt_dir(run_id) / "best.pt")  # plain data, but not a whole checkpoint
    with open(store.ckpt_dir(run_id) / "last.pt", "wb") as f:
        pickle.dump({"model": RunsCode()}, f)
    run_to_end(store, run_id)
    log = store.worker_log(run_id).read_text()
    assert "ckpt/last.pt cannot be loaded (CheckpointRefused" in log
    assert "weights_only=False" not in log and "weights_only set to False" not in log


def test_show_prints_a_config_holding_escape_sequences_as_text(tmp_path):
    store = st.Store(tmp_path / "runs")
    run_id = store.create_run('name = "x"\n', "evil", {})
    store.config_path(run_id).write_text('dataset = "\x1b]0;pwned\x07\x1b[2J"\n')
    shown = gpt_tui("show", run_id, store=store.root)
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in shown.stdout
    assert printable("tab\there\nnext \x9b") == "tab\there\nnext \\x9b"


def test_a_list_sweep_past_the_trial_cap_is_refused_before_any_trial_is_checked():
    trials = [{"learning_rate": 1e-3}] * (sw.MAX_TRIALS + 1)
    spec = sw.from_mapping({"method": "list", "preset": "quickstart", "trial": trials}, default_id="big", check=False)
    problems = sw.check_spec(spec)
    assert [p.field for p in problems] == ["trial"] and "10,001 [[trial]] tables" in problems[0].message
