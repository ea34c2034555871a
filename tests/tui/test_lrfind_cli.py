"""`gpt-tui lr-find` from a shell: bad bounds refused with nothing queued, and a range test through a
real engine to its suggestion, which `show` prints with the command that uses it."""

from __future__ import annotations

import os
import signal

import pytest

from engine.core import config as cfgmod
from engine.serve import engines as eng
from engine.store import runs as st
from engine.store.records import lr_records
from tests.tui.test_cli import TINY, gpt_tui
from tui.cli.lrfind import rerun_command
from tui.cli.main import main


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """The store's path (in-process commands read it from $GPT_TUI_RUNS); no engine outlives the test."""
    root = tmp_path / "runs"
    monkeypatch.setenv("GPT_TUI_RUNS", str(root))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    yield root
    for e in eng.engines(st.Store(root)) if root.is_dir() else []:
        try:
            os.kill(e.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize(
    "args,words",
    [
        (["--min", "1e-2", "--max", "1e-3"], "--min (0.01) must be below --max (0.001)"),
        (["--min", "0"], "--min must be a positive number, got 0.0"),
        (["--max", "-1"], "--max must be a positive number, got -1.0"),
        (["--steps", "9"], "--steps must be a whole number from 10 to 100000, got 9"),
    ],
)
def test_bad_bounds_exit_2_with_the_message_and_queue_nothing(runs, capsys, args, words):
    assert main(["lr-find", "--preset", "quickstart", "--no-engine", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and words in err
    assert not runs.exists()  # not even a store was made


def test_the_command_to_train_with_the_suggestion_rebuilds_the_tested_config(tmp_path):
    cfg = cfgmod.resolve("quickstart", None, ["n_layer=1", "compile=true"])
    command = rerun_command(cfg, 3e-3, 3e-4, tmp_path / "config.toml")
    assert command == (
        "gpt-tui run --preset quickstart --set n_layer=1 --set compile=true "
        "--set learning_rate=0.003 --set min_lr=0.0003"
    )
    args = command.split()[4:]
    again = cfgmod.resolve("quickstart", None, args[1::2])
    wanted = ["n_layer=1", "compile=true", "learning_rate=3e-3", "min_lr=3e-4"]
    assert again == cfgmod.resolve("quickstart", None, wanted)


@pytest.mark.slow
def test_a_range_test_runs_through_the_engine_and_show_prints_both_rules(runs):
    tiny = [*TINY, "--set", "batch_size=4"]
    out = gpt_tui("lr-find", *tiny, "--min", "1e-4", "--max", "1", "--steps", "12", "--wait", store=runs, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "started an engine" in out.stderr and "steepest descent" in out.stdout
    s = st.Store(runs)
    (run_id,) = s.list_runs()
    status = s.status(run_id)
    assert status.state == "done" and status.kind == "lrfind" and status.step == 12
    assert status.lr_suggested is not None and status.lr_min_div10 is not None
    points = lr_records(st.read_log(s.metrics_path(run_id)).records)
    assert [p.step for p in points] == list(range(1, 13))
    assert all(b.lr > a.lr for a, b in zip(points, points[1:]))
    assert points[0].lr == pytest.approx(1e-4) and points[-1].lr == pytest.approx(1.0)
    assert not st.read_results(s)  # a range test is no trial: no row in the trial table's ledger
    shown = gpt_tui("show", run_id, store=runs)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "steepest descent" in text and "minimum / 10" in text and "suggested" in text
    assert "gpt-tui run --preset quickstart --set n_layer=1" in text and "--set min_lr=" in text
    assert "wrong type" not in text  # [[lr]] records are no damaged records
    assert f"--set learning_rate={float(f'{status.lr_suggested:.3g}'):g}" in text
    assert gpt_tui("engine", "stop", store=runs).returncode == 0


def test_retry_of_a_range_test_queues_a_range_test_over_the_same_range(runs):
    from engine.store import control

    s = st.Store(runs)
    cfg = cfgmod.RunConfig().replace(max_iters=20)
    first = control.submit(s, cfg, "lrf", kind="lrfind", lrfind_min=1e-5, lrfind_max=1.0, lrfind_steps=20)
    again = control.retry(s, first)
    status = s.status(again)
    assert (status.kind, status.lrfind_min, status.lrfind_max, status.lrfind_steps) == ("lrfind", 1e-5, 1.0, 20)
