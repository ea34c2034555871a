"""Rough edges a new user hit (issue 14): a bad --runs, schedules that are merely unusual, a missing
dataset, runs by name, and time estimates that hold still. Commands run as a person runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.hosts import this_host
from engine.core.presets import PRESETS
from engine.core.rules import warnings_for
from engine.core.schedule import get_lr
from engine.store import runs as st
from engine.store import throughput
from tests.fault.test_store_inputs import NO_OVERRIDE, as_another_user, one_line
from tests.tui.test_cli import TINY, gpt_tui, tree
from tests.tui.test_cli_runs import queue_one
from tests.tui.test_tui_editor import open_editor, type_into
from tests.tui_store import make_app, runs_loaded, until
from tui.cli.main import main
from tui.models import editor_model as em

# -- a bad --runs ----------------------------------------------------------------------------------


def bad_places(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of place that cannot hold a run store, with words its message must hold."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a store\n")
    return {
        "missing-parent": (tmp_path / "no" / "such" / "runs", "does not exist"),
        "regular-file": (a_file, f"{a_file} is a file, not a folder"),
        "under-a-file": (a_file / "runs", f"{a_file} is a file, not a folder"),
        "proc": (Path("/proc/self/gpt-tui-runs"), "inside /proc"),
        "sys": (Path("/sys/kernel/gpt-tui-runs"), "inside /sys"),
    }


def assert_clear_error(code: int, err: str, words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "bug" not in err, err
    assert words in one_line(err), err


@pytest.mark.parametrize("kind", ["missing-parent", "regular-file", "under-a-file", "proc", "sys"])
def test_a_bad_runs_is_a_clear_error_with_exit_2_in_ls_run_and_the_app(tmp_path, kind):
    place, words = bad_places(tmp_path)[kind]
    before = tree(tmp_path)
    for args in (["ls"], ["run", *TINY, "--no-engine"], []):  # [] opens the app
        out = gpt_tui("--runs", str(place), *args, timeout=60)
        assert_clear_error(out.returncode, out.stderr, words)
    assert tree(tmp_path) == before


COMMANDS = [
    ["show", "x"],
    ["logs", "x"],
    ["stop", "x"],
    ["note", "x", "a note"],
    ["resume", "x", "--no-engine"],
    ["export"],
    ["estimate", "--preset", "quickstart"],
    ["sweep", "ls"],
    ["engine", "status"],
    ["sample", "x"],
]


@pytest.mark.parametrize("kind", ["missing-parent", "regular-file", "under-a-file", "proc", "sys"])
def test_a_bad_runs_is_a_clear_error_with_exit_2_in_every_other_command(tmp_path, kind, monkeypatch, capsys):
    place, words = bad_places(tmp_path)[kind]
    monkeypatch.setenv("GPT_TUI_RUNS", str(place))
    for argv in COMMANDS:
        code = main(argv)
        assert_clear_error(code, capsys.readouterr().err, words)
    assert not place.exists() or place.is_file()


def test_reading_commands_on_a_store_that_does_not_exist_say_so_and_make_nothing(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "runs"
    out = gpt_tui("ls", store=missing)
    assert_clear_error(out.returncode, out.stderr, f"no run store at {missing}: the folder does not exist")
    monkeypatch.setenv("GPT_TUI_RUNS", str(missing))
    for argv in (["show", "x"], ["logs", "x"], ["export"], ["stop", "x"]):
        assert_clear_error(main(argv), capsys.readouterr().err, f"no run store at {missing}")
    assert main(["estimate", "--preset", "quickstart"]) == 0  # reads no store: still estimates
    assert not missing.exists()


def test_an_unwritable_folder_is_a_clear_error_for_run_and_the_app_and_still_reads(tmp_path):
    if NO_OVERRIDE and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: nothing here can deny root a write")
    shut = tmp_path / "shut"
    shut.mkdir()
    shut.chmod(0o555)
    try:
        if subprocess.run([*NO_OVERRIDE, "touch", str(shut / "probe")], capture_output=True).returncode == 0:
            pytest.skip("this machine lets the test write a read-only folder")
        for place in (shut, shut / "runs"):
            for args in (["run", *TINY, "--no-engine"], []):  # [] opens the app
                out = as_another_user(*args, store=place)
                assert_clear_error(out.returncode, out.stderr, f"cannot write {shut}: permission denied")
        listing = as_another_user("ls", store=shut)
        assert listing.returncode == 0 and "0 run(s)" in listing.stdout, listing.stderr
        assert list(shut.iterdir()) == []
    finally:
        shut.chmod(0o755)


# -- schedules that are merely unusual -------------------------------------------------------------


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_takes_a_one_set_smoke_run_and_says_what_is_unusual(tmp_path, preset):
    out = gpt_tui("run", "--preset", preset, "--set", "max_iters=30", "--no-engine", store=tmp_path / "runs")
    assert out.returncode == 0, out.stderr
    err = one_line(out.stderr)
    assert "warning: eval_interval" in err and "the run evaluates at its start and at its end only" in err
    assert "warning: warmup_iters" in err and "warmup stops at max_iters" in err
    assert len(st.Store(tmp_path / "runs").list_queue()) == 1


def test_warnings_name_the_fields_and_a_usual_config_has_none():
    short = cfgmod.resolve("quickstart", None, ["max_iters=30"])
    assert [p.field for p in warnings_for(short)] == ["warmup_iters", "eval_interval"]
    assert warnings_for(cfgmod.preset("quickstart")) == []
    assert warnings_for(short.replace(decay_lr=False, eval_interval=10)) == []  # no schedule to cut short


def test_a_warmup_longer_than_the_run_stops_at_max_iters():
    c = cfgmod.resolve("quickstart", None, ["max_iters=30"])  # warmup_iters 40
    lrs = [get_lr(step, c) for step in range(c.max_iters)]
    assert all(a < b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(c.learning_rate * 30 / 31)  # the peak, reached at the last step


@pytest.mark.parametrize(
    "changes", [{"max_iters": 0}, {"eval_interval": 0}, {"lr_decay_iters": 10, "warmup_iters": 50}]
)
def test_values_that_cannot_work_are_still_refused(changes):
    with pytest.raises(cfgmod.ConfigError):
        cfgmod.from_mapping(changes)


@pytest.mark.slow
def test_a_run_shorter_than_eval_interval_evaluates_at_its_start_and_its_end(tmp_path):
    out = gpt_tui(
        "train", *TINY, "--set", "max_iters=6", "--set", "eval_interval=100", "--set", "warmup_iters=40",
        store=tmp_path / "runs", timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    s = st.Store(tmp_path / "runs")
    (run_id,) = s.list_runs()
    evals = [r["step"] for kind, r in st.read_log(s.metrics_path(run_id)).records if kind == "eval"]
    assert evals == [0, 6]


async def test_the_editor_shows_what_is_unusual_and_still_queues_it(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        await type_into(pilot, "max_iters", "30")
        status = editor.query_one("#form-status")
        await until(pilot, lambda: "warmup stops at max_iters" in str(status.content))
        shown = " ".join(str(status.content).split())
        assert "ready to queue" in shown and "evaluates at its start and at its end only" in shown
        assert set(editor.warnings) == {"warmup_iters", "eval_interval"} and editor.problems == {}
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(fixed_store.list_queue()) == 1)


# -- a missing dataset -----------------------------------------------------------------------------


def test_a_missing_dataset_is_refused_when_queued_as_estimate_refuses_it(tmp_path):
    root = tmp_path / "runs"
    words = "dataset 'nosuchdir' not found: no such file or folder"
    for tokenizer in ("char", "gpt2"):  # gpt2's vocabulary needs no corpus: queueing still checks it
        out = gpt_tui("run", *TINY, "--set", "dataset=nosuchdir", "--set", f"tokenizer={tokenizer}", "--no-engine",
                      store=root)  # fmt: skip
        assert_clear_error(out.returncode, out.stderr, words)
    estimate = gpt_tui("estimate", *TINY, "--set", "dataset=nosuchdir", store=root)
    assert_clear_error(estimate.returncode, estimate.stderr, words)
    assert tree(root) == {}


async def test_the_editor_refuses_a_missing_dataset_and_never_says_ready(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        status = editor.query_one("#form-status")
        said: list[str] = []
        editor.show_status = lambda markup, show=editor.show_status: (said.append(markup), show(markup))
        await type_into(pilot, "dataset", "nosuchdir")
        await pilot.press("ctrl+s")  # at once, before the check of what was typed has come back
        await until(pilot, lambda: "problem" in str(status.content))
        assert "not found" in str(editor.query_one("#e-dataset").content)
        assert editor.query_one("#row-dataset").has_class("-invalid")
        assert said and not any("ready to queue" in markup for markup in said)
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        assert fixed_store.list_queue() == [] and app.screen is editor
        await type_into(pilot, "dataset", "pydocs")
        await until(pilot, lambda: "ready to queue" in str(status.content))


# -- runs by name ----------------------------------------------------------------------------------


def test_every_run_command_takes_a_name_or_a_unique_start_of_an_id(tmp_path):
    root = tmp_path / "runs"
    stopme, other = queue_one(root, "--name", "stopme"), queue_one(root, "--name", "other")
    common = os.path.commonprefix([stopme, other])
    show = gpt_tui("show", "stopme", store=root)
    assert show.returncode == 0 and stopme in show.stdout, show.stderr
    by_start = gpt_tui("show", other[: len(common) + 1], store=root)
    assert by_start.returncode == 0 and other in by_start.stdout, by_start.stderr
    for args, words in ((["note", "stopme", "a note"], "note"), (["logs", "stopme"], "no output yet")):
        out = gpt_tui(*args, store=root)
        assert out.returncode == 0 and words in out.stdout, out.stderr
    stop = gpt_tui("stop", "stopme", store=root)
    assert stop.returncode == 0 and f"{stopme}: cancelled" in one_line(stop.stdout), stop.stderr
    ambiguous = gpt_tui("show", common, store=root)
    assert_clear_error(ambiguous.returncode, ambiguous.stderr, f"'{common}' matches 2 runs")
    assert stopme in one_line(ambiguous.stderr) and other in one_line(ambiguous.stderr)


def test_a_name_two_runs_share_is_ambiguous_and_lists_both(tmp_path):
    root = tmp_path / "runs"
    first, second = queue_one(root, "--name", "twin"), queue_one(root, "--name", "twin")
    out = gpt_tui("stop", "twin", store=root)
    assert_clear_error(out.returncode, out.stderr, "'twin' matches 2 runs")
    assert f"{first} (twin, queued)" in one_line(out.stderr) and f"{second} (twin, queued)" in one_line(out.stderr)
    assert len(st.Store(root).list_queue()) == 2  # neither stopped


async def test_the_palette_opens_a_run_by_its_name(fixed_store):
    from textual.command import CommandList

    from tui.screens.monitor import MonitorScreen

    app = make_app(fixed_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"deeper")
        await until(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert app.screen.run_id == "20260101-100000-000-deeper-0b02"


# -- time estimates that hold still ----------------------------------------------------------------

GRID = [(1, 32, 0.4e9), (2, 64, 1.0e9), (4, 128, 2.5e9), (6, 192, 4.0e9), (8, 256, 6.0e9)]  # shape, FLOP/s
STARTUP_S = 4.0
VOCAB = 103


def finished_run(store: st.Store, n_layer: int, n_embd: int, flops_per_s: float, startup_s: float, device: str) -> str:
    """A run `done` on this host, its results.toml row: steps at `flops_per_s`, then `startup_s`."""
    cfg = cfgmod.resolve("quickstart", None, [f"n_layer={n_layer}", f"n_embd={n_embd}", "max_iters=100"])
    run_id = store.create_run(cfgmod.to_toml(cfg), f"grid-{n_layer}", {})
    store.update_status(run_id, state=st.RunState.DONE, host=this_host(), vocab_size=VOCAB, device=device)
    steps_s = throughput.run_flops(cfg, VOCAB) / flops_per_s
    row = {"run": run_id, "device": device, "duration_s": steps_s + startup_s}
    st.append_result(store, st.ResultRow(**row, tokens_per_s=flops_per_s / est.flops_per_token(cfg, VOCAB)))
    return run_id


def test_start_up_is_measured_apart_from_steps_and_holds_still_as_a_grid_finishes(store):
    seen = []
    for n_layer, n_embd, flops in GRID:
        finished_run(store, n_layer, n_embd, flops, STARTUP_S, "AMD EPYC")
        m = throughput.measured(store)
        seen.append(round(m.startup_s, 6))
    assert seen == [STARTUP_S] * len(GRID)
    assert m.runs == len(GRID) and m.flops_per_s == pytest.approx(2.5e9)  # the median run's
    finished_run(store, 4, 128, 2.5e9, 300.0, "AMD EPYC")  # one slow start (a cold disk) moves nothing
    assert throughput.measured(store).startup_s == pytest.approx(STARTUP_S)
    assert "4s of start-up per run, the median of 6 earlier runs on AMD EPYC" in throughput.measured(store).describe()


def test_estimate_shows_time_on_this_machine_as_the_editor_works_it_out(store):
    device = em.engine_device(store)  # what both the app and `gpt-tui estimate` train on here
    for n_layer, n_embd, flops in GRID:
        finished_run(store, n_layer, n_embd, flops, STARTUP_S, device.name)
    cfg = cfgmod.preset("quickstart")
    editor = em.time_line(cfg, VOCAB, device, em.calibrate(store, device.name))
    assert editor.note.endswith("+ 4s start-up, measured from 5 finished runs here"), editor.note
    out = gpt_tui("estimate", "--preset", "quickstart", store=store.root, COLUMNS="300")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("time on this machine"))
    assert one_line(line) == one_line(f"time on this machine {editor.value} {editor.note}")
