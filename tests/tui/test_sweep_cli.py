"""`gpt-tui sweep` as a person runs it: the plan before queueing, bad input refused with exit 2 and
nothing written, the trial table from the store, and the seed's Day 38 example."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from engine.store import runs as stmod
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import report
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice, LogUniform, Uniform
from tests.tui.test_cli import gpt_tui, tree
from tui.models.sweep_request import SweepRequest

ROOT = Path(__file__).resolve().parents[2]
TINY_SET = [
    "--set",
    "n_layer=1",
    "--set",
    "n_head=2",
    "--set",
    "n_embd=32",
    "--set",
    "block_size=32",
    "--set",
    "max_iters=40",
    "--set",
    "eval_interval=10",
    "--set",
    "warmup_iters=0",
]


@pytest.mark.parametrize(
    "args,words",
    [
        (["grid", "lerning_rate=1e-4,3e-4"], "did you mean 'learning_rate'"),
        (["random", "-n", "5", "learning_rate=log:1e-4"], "must look like log:LO:HI"),
        (["random", "-n", "5", "dropout=0.2:0"], "the low end 0.2 is above the high end 0.0"),
        (["grid", "batch_size="], "no values given"),
        (["grid", "dropout=0:0.2"], "a grid needs a list of values"),
        (["random", "learning_rate=log:1e-4:1e-3"], "needs the number of trials (-n N)"),
        (["grid", "n_head=3,5", "--preset", "quickstart"], "no valid trial"),
        (["grid", "learning_rate=1e-3", "--max-hours", "-1"], "--max-hours: must be above 0"),
        (["grod", "learning_rate=1e-3"], "did you mean 'grid'"),
        (["file", "missing.toml"], "cannot read missing.toml"),
    ],
)
def test_bad_sweep_input_exits_2_with_a_clear_message_and_writes_nothing(tmp_path, args, words):
    runs = tmp_path / "runs"
    out = gpt_tui("sweep", *args, store=runs)
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in " ".join(out.stderr.split())  # rich wraps long lines
    assert tree(runs) == {}


def test_every_problem_of_a_command_line_is_reported_at_once(tmp_path):
    out = gpt_tui("sweep", "grid", "lerning_rate=1e-4", "n_layer=int:9:3", "--set", "n_head=5", store=tmp_path / "r")
    assert out.returncode == 2 and "3 problem(s)" in out.stderr


def test_dry_run_shows_trials_batches_skipped_combinations_and_the_estimate(tmp_path):
    out = gpt_tui(
        "sweep",
        "grid",
        "learning_rate=1e-4,6e-4",
        "batch_size=12,10,16",
        "--preset",
        "seed-baseline",
        "--keep-effective-batch",
        "--dry-run",
        store=tmp_path / "runs",
    )
    assert out.returncode == 0, out.stderr
    assert "48 (12x4)" in out.stdout and "48 (16x3)" in out.stdout
    assert "skipped learning_rate=0.0001, batch_size=10: batch_size 10 does not divide" in out.stdout
    assert "2 invalid combination(s) skipped" in out.stdout
    assert "4 trial(s); estimated total time unknown: no finished run on this machine" in out.stdout
    assert "dry run" in out.stdout and tree(tmp_path / "runs") == {}


def test_a_sweep_file_given_alone_is_the_file_command(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('method = "grid"\npreset = "quickstart"\n[params]\nlearning_rate = [1e-3, 3e-3]\n')
    short = gpt_tui("sweep", str(path), "--dry-run", store=tmp_path / "runs")
    long = gpt_tui("sweep", "file", str(path), "--dry-run", store=tmp_path / "runs")
    assert short.returncode == long.returncode == 0, short.stderr
    assert short.stdout == long.stdout and "sweep mine:" in short.stdout and "t002" in short.stdout


def test_queueing_writes_the_sweep_file_and_one_tagged_run_per_trial(tmp_path):
    runs = tmp_path / "runs"
    out = gpt_tui(
        "sweep",
        "grid",
        "learning_rate=1e-3,3e-3",
        "--preset",
        "quickstart",
        *TINY_SET,
        "--name",
        "lr",
        "--no-engine",
        store=runs,
    )
    assert out.returncode == 0, out.stderr
    assert "queued sweep lr: 2 trial(s)" in " ".join(out.stdout.split())
    store = stmod.Store(runs)
    record = sf.load(store, "lr")
    assert [r["params"] for r in record.runs] == [{"learning_rate": 1e-3}, {"learning_rate": 3e-3}]
    assert {q.run_id for q in store.list_queue()} == set(record.run_ids())
    assert [store.status(r).name for r in record.run_ids()] == ["lr-t001", "lr-t002"]
    again = gpt_tui(
        "sweep", "grid", "learning_rate=1e-3", "--preset", "quickstart", "--name", "lr", "--no-engine", store=runs
    )
    assert again.returncode == 0 and "queued sweep lr-2" in again.stdout  # the name is taken: a new id


def finished_sweep(tmp_path) -> stmod.Store:
    """A grid of three trials whose runs are marked ended by hand, as an engine would leave them."""
    store = stmod.Store(tmp_path / "runs")
    spec = sw.SweepSpec(
        id="seed",
        method="grid",
        preset="seed-baseline",
        base={},
        params={"learning_rate": Choice((6e-4, 3e-4, 1e-4)), "batch_size": Choice((12,))},
    )
    record = sf.create(store, sp.plan(spec))
    ends = [
        dict(state="done", final_val_loss=3.65, final_val_ppl=38.5, step=5000),
        dict(state="done", final_val_loss=3.69, final_val_ppl=40.2, step=5000),
        dict(
            state="pruned",
            val_loss=4.1,
            val_ppl=60.3,
            step=500,
            reason="val loss 4.1 at step 500 is above the median 3.9 of 2 other trials",
        ),
    ]
    for run_id, end in zip(record.run_ids(), ends):
        store.update_status(run_id, **end)
    return store


def test_sweep_show_writes_the_seeds_table_with_the_best_marked(tmp_path):
    finished_sweep(tmp_path)
    md = gpt_tui("sweep", "show", "seed", "--format", "md", store=tmp_path / "runs")
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0] == "| trial | learning_rate | batch | final val PPL | state | note |"
    assert lines[2] == "| **t001** (best) | 0.0006 | 48 (12x4) | 38.50 | done |  |"
    assert lines[3] == "| t002 | 0.0003 | 48 (12x4) | 40.20 | done |  |"
    assert lines[4].startswith("| t003 | 0.0001 | 48 (12x4) | (60.30 at step 500) | pruned | val loss 4.1 at")
    assert "not yet (needs 3 finished trials, has 2)" in md.stdout
    rows = list(
        csv.DictReader(io.StringIO(gpt_tui("sweep", "show", "seed", "--format", "csv", store=tmp_path / "runs").stdout))
    )
    assert [(r["trial"], r["final_val_ppl"], r["state"], r["best"]) for r in rows] == [
        ("t001", "38.5", "done", "yes"),
        ("t002", "40.2", "done", ""),
        ("t003", "", "pruned", ""),
    ]
    table = gpt_tui("sweep", "show", "seed", store=tmp_path / "runs")
    assert "★ t001" in table.stdout and "3 trial(s), 2 finished" in table.stdout
    listing = gpt_tui("sweep", "ls", store=tmp_path / "runs")
    assert "seed" in listing.stdout and "38.50 (t001)" in listing.stdout


def test_parameter_importance_is_rank_correlation_when_trials_are_few(tmp_path):
    store = finished_sweep(tmp_path)
    third = sf.load(store, "seed").run_ids()[2]
    store.update_status(third, state="done", final_val_loss=3.8, final_val_ppl=44.7, reason=None)
    imp = report.importance(store, report.build(store, "seed"))
    assert imp.method == "spearman" and imp.values == {"learning_rate": pytest.approx(-1.0)}
    assert "learning_rate -1.00" in report.importance_text(imp)


def test_rank_correlation_handles_ties_and_constant_sides():
    assert report.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert report.spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894, abs=1e-3)
    assert report.spearman([5, 5, 5], [1, 2, 3]) is None


def test_day38_is_the_seeds_three_trials():
    spec = sw.from_toml((ROOT / "examples/day38.toml").read_text(), default_id="day38")
    trials = sp.plan(spec).trials
    assert [(t.config["n_layer"], t.config["n_embd"], t.config["learning_rate"], t.batch_label) for t in trials] == [
        (12, 768, 6e-4, "48 (12x4)"),
        (16, 768, 6e-4, "32 (8x4)"),
        (12, 768, 3e-4, "48 (12x4)"),
    ]
    assert trials[2].config["min_lr"] == 3e-5  # as the seed-slow-lr preset has it


def test_day38_cpu_keeps_the_comparison_in_miniature():
    seed = sp.plan(sw.from_toml((ROOT / "examples/day38.toml").read_text(), default_id="a")).trials
    tiny = sp.plan(sw.from_toml((ROOT / "examples/day38-cpu.toml").read_text(), default_id="b")).trials
    for key in ("n_layer", "batch_size", "learning_rate"):
        assert [t.config[key] / tiny[0].config[key] for t in tiny] == pytest.approx(
            [t.config[key] / seed[0].config[key] for t in seed], rel=0.01
        )
    assert all(t.config["gradient_accumulation_steps"] == 4 for t in tiny)
    assert all(t.config["n_embd"] * t.config["n_layer"] <= 256 for t in tiny)  # a CPU size


def test_parameter_importance_comes_from_optuna_once_enough_trials_finished(tmp_path):
    store = stmod.Store(tmp_path / "runs")
    spec = sw.SweepSpec(
        id="rnd",
        method="random",
        n_trials=12,
        seed=4,
        base={},
        params={"learning_rate": LogUniform(1e-4, 1e-2), "dropout": Uniform(0, 0.2)},
    )
    record = sf.create(store, sp.plan(spec))
    for entry in record.runs:  # the loss follows the learning rate alone
        loss = 3.0 + abs(math.log10(entry["params"]["learning_rate"]) + 3)
        store.update_status(entry["run"], state="done", final_val_loss=loss, final_val_ppl=2.718**loss)
    imp = report.importance(store, report.build(store, "rnd"))
    assert imp.method.startswith("optuna") and max(imp.values, key=imp.values.get) == "learning_rate"


@pytest.mark.parametrize(
    "request_",
    [
        SweepRequest(
            "grid",
            ("learning_rate=1e-3,3e-3", "batch_size=8,4"),
            preset="quickstart",
            name="lr",
            overrides=("n_layer=2", "dropout=0.1"),
            keep_effective_batch=True,
            early_stop="median",
            max_hours=2.0,
        ),
        SweepRequest(
            "random",
            ("dropout=0:0.2",),
            n_trials=5,
            seed=3,
            scale_lr="sqrt",
            max_trials=4,
            priority=-5,
            proxy=("n_embd=64",),
        ),
        SweepRequest(
            "tpe",
            ("learning_rate=log:1e-4:1e-3",),
            n_trials=8,
            parallel=2,
            early_stop="asha",
            early_stop_startup=2,
            early_stop_min_step=10,
            early_stop_eta=4,
            config=Path("my config.toml"),
        ),
        SweepRequest("file", file=Path("examples/day38.toml"), n_trials=3),
    ],
    ids=lambda r: r.method,
)
def test_a_requests_command_line_parses_back_to_the_same_request(request_):
    """The sweep screen shows request.command_line(); typed into a shell, it asks for the same sweep."""
    import shlex

    from tui.cli.sweep import sweep

    words = shlex.split(request_.command_line())
    assert words[:2] == ["gpt-tui", "sweep"]
    name, command, args = sweep.resolve_command(sweep.make_context("sweep", words[2:]), words[2:])
    with command.make_context(name, args) as ctx:
        values = {k: v for k, v in ctx.params.items() if k not in ("dry_run", "no_engine", "wait")}
    assert SweepRequest(method=name, **values) == request_
