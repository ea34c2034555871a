"""What a person or another user puts in front of gpt-tui, as real processes see it: sweep files with
wrong types and absurd numbers (F9), a store the command may not write (F7), and a number past its
field's type in `--set` (F15). Each is refused in one line that names the file or field and what to
do; nothing else is affected, and nothing shows as a bug."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice, LogUniform
from tests.serve.test_engine import TINY, EngineProc
from tests.sweeps.test_sweep_engine import wait_for
from tests.tui.test_cli import ROOT, gpt_tui, tree

pytestmark = pytest.mark.slow


def one_line(text: str) -> str:
    """Output with rich's wrapping undone, so a message can be matched whole."""
    return " ".join(text.split())


# -- F9: sweep files with wrong types --------------------------------------------------------


def good_sweep_mapping(sweep_id: str) -> dict:
    """A sweep file as the store writes it: the spec, one created trial, one skipped."""
    spec = sw.SweepSpec(id=sweep_id, method="grid", base=dict(TINY), params={"learning_rate": Choice((1e-3, 2e-3))})
    out = sw.to_mapping(spec)
    out.update(created="2026-01-01T00:00:00.000Z", finished="", stopped="")
    out["run"] = [{"number": 1, "run": "", "params": {"learning_rate": 1e-3}}]
    out["skipped"] = [{"number": 0, "params": {"learning_rate": 2e-3}, "reason": "kept short"}]
    return out


def _set(path: tuple, value):
    def change(m: dict) -> None:
        target = m
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _random_past_the_range(m: dict) -> None:
    m.update(method="random", n_trials=2)
    m["params"]["learning_rate"] = "log:1e-4:1e308"


def _twice(m: dict) -> None:
    m["run"].append({"number": 1, "run": "", "params": {"learning_rate": 2e-3}})


# sweep id: (what is done to a good file, words its message must hold)
BROKEN = {
    "run-text": (_set(("run",), "x"), "run = 'x' is not a list of trial tables"),
    "budget-inf": (_set(("max_total_seconds",), math.inf), "max_total_seconds: must be 0 (no limit) or a number"),
    "budget-nan": (_set(("max_total_seconds",), math.nan), "up to 315,360,000 (ten years); got nan"),
    "budget-huge": (_set(("max_total_seconds",), 1e300), "max_total_seconds: must be 0 (no limit)"),
    "number-text": (_set(("run", 0, "number"), "one"), "run[1].number = 'one' is not a whole number from 1 to 10,000"),
    "number-huge": (_set(("run", 0, "number"), 2**62), "run[1].number = 4611686018427387904 is not a whole number"),
    "run-escape": (_set(("run", 0, "run"), "../../etc"), "run[1].run = '../../etc' is not a run id"),
    "params-text": (_set(("run", 0, "params"), "lr"), "run[1].params = 'lr' is not a table of hyperparameters"),
    "param-type": (_set(("run", 0, "params", "learning_rate"), "fast"), "run[1].params.learning_rate must be a num"),
    "param-inf": (_set(("run", 0, "params", "learning_rate"), math.inf), "must be a number above 0 and at most 1"),
    "skip-reason": (_set(("skipped", 0, "reason"), 7), "skipped[1].reason = 7 is not text"),
    "skipped-text": (_set(("skipped",), [1, 2]), "skipped = [1, 2] is not a list of skipped-trial tables"),
    "twice": (_twice, "two trials have number = 1"),
    "dist-inf": (_set(("params", "learning_rate"), [1e-3, math.inf]), "learning_rate: must be a number above 0"),
    "dist-nan": (_set(("params", "learning_rate"), [math.nan]), "learning_rate: must be a number above 0 and at"),
    "dist-range": (
        _random_past_the_range,
        "the range log:0.0001:1e+308 reaches outside what learning_rate may be: a number above 0 and at most 1",
    ),
    "dist-zero-int": (_set(("params", "n_layer"), [0, 2]), "0 reaches outside what n_layer may be: an integer from 1"),
    "n-trials-huge": (_set(("n_trials",), 2**62), "n_trials: must be a whole number from 0 to 10,000"),
    "eta-huge": (_set(("early_stopping", "eta"), 10**9), "eta: must be a whole number from 2 to 100"),
    "startup-text": (_set(("early_stopping", "n_startup"), "3"), "n_startup: must be a whole number from 1 to"),
    "seed-float": (_set(("seed",), 1.5), "seed: must be a whole number from 0 to 2^63-1; got 1.5"),
    "parallel-neg": (_set(("parallel",), -1), "parallel: must be a whole number from 1 to 10,000"),
    "id-other": (_set(("id",), "elsewhere"), "id = 'elsewhere' is not the file's own name 'id-other'"),
    "id-int": (_set(("id",), 5), "id: must be text, got 5"),
    "method-int": (_set(("method",), 5), "method: must be text, got 5"),
    "created-int": (_set(("created",), 5), "created = 5 is not text"),
    "base-text": (_set(("base", "max_iters"), "many"), "max_iters: must be an integer, got 'many'"),
    "base-huge": (_set(("base", "max_iters"), 2**64), "max_iters: must be an integer from 1 to 2^63-1, got 1844674"),
    "preset-gone": (_set(("preset",), "no-such"), "preset: unknown preset 'no-such'"),
}


def write_broken(store: st.Store, sweep_id: str) -> Path:
    mapping = good_sweep_mapping(sweep_id)
    change, _ = BROKEN[sweep_id]
    change(mapping)
    path = store.sweeps_dir / f"{sweep_id}.toml"
    path.write_text(tomli_w.dumps(mapping))
    return path


@pytest.fixture
def sweep_store(tmp_path) -> st.Store:
    store = st.Store(tmp_path / "runs")
    store.ensure()
    (store.sweeps_dir / "good.toml").write_text(tomli_w.dumps(good_sweep_mapping("good")))
    for sweep_id in BROKEN:
        write_broken(store, sweep_id)
    return store


@pytest.mark.parametrize("sweep_id", list(BROKEN))
def test_a_sweep_file_with_a_wrong_type_or_absurd_number_loads_as_a_store_error_naming_file_and_field(
    sweep_store, sweep_id
):
    with pytest.raises(st.StoreError) as refused:
        sf.load(sweep_store, sweep_id)
    message = str(refused.value)
    assert f"sweeps/{sweep_id}.toml" in message and "\n" not in message
    assert BROKEN[sweep_id][1] in message, message
    assert sf.load(sweep_store, "good").runs[0]["number"] == 1  # the good one beside it still loads


def test_a_sweep_file_the_store_wrote_with_a_skipped_trial_of_the_wrong_type_loads(store):
    trials = ({"n_layer": 2}, {"n_layer": "six"}, {"learning_rate": 1e9})
    spec = sw.SweepSpec(id="picked", method="list", base=dict(TINY), trials=trials)
    sf.create(store, sp.plan(spec))
    record = sf.load(store, "picked")
    assert [r["params"] for r in record.runs] == [{"n_layer": 2}]
    assert [s["params"] for s in record.skipped] == [{"n_layer": "six"}, {"learning_rate": 1e9}]


def test_sweep_ls_lists_each_broken_sweep_with_its_reason_and_the_good_one_normally(sweep_store):
    out = gpt_tui("sweep", "ls", store=sweep_store.root, COLUMNS="400")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("│")}
    assert set(BROKEN) <= set(rows), sorted(rows)
    assert all("broken: sweeps/" in rows[sweep_id] for sweep_id in BROKEN)
    assert "in progress" in rows["good"] and "learning_rate" in rows["good"]
    assert "run = 'x' is not a list of trial tables" in rows["run-text"]


@pytest.mark.parametrize("sweep_id", ["run-text", "budget-inf", "number-text", "dist-range"])
def test_sweep_show_of_a_broken_sweep_exits_non_zero_with_the_message_and_no_traceback(sweep_store, sweep_id):
    out = gpt_tui("sweep", "show", sweep_id, store=sweep_store.root)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "bug" not in out.stderr, out.stderr
    assert f"sweeps/{sweep_id}.toml" in one_line(out.stderr) and BROKEN[sweep_id][1] in one_line(out.stderr)
    good = gpt_tui("sweep", "show", "good", store=sweep_store.root)
    assert good.returncode == 0 and "t001" in good.stdout, good.stderr


def test_a_trials_config_note_and_status_of_wrong_types_are_shown_harmlessly_in_sweep_show_and_ls(store):
    spec = sw.SweepSpec(id="odd", method="grid", base=dict(TINY), params={"learning_rate": Choice((1e-3, 2e-3))})
    first, second = sf.create(store, sp.plan(spec)).run_ids()
    store.config_path(first).write_text('batch_size = "big"\nmax_iters = "x"\nlearning_rate = [1]\n')
    (store.run_dir(first) / "note.toml").write_text('note = "\\u001b]0;pwned\\u0007 [red]x"\n')
    st.write_toml(
        store.status_path(first), st.Status(st.RunState.DONE, final_val_loss=700.0, final_val_ppl=1e308).to_toml()
    )
    shown = gpt_tui("sweep", "show", "odd", store=store.root, COLUMNS="300")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "t001" in line)
    assert "1e+308" in row and " - " in row and "0.001" in row  # the batch unknown, the swept value from the sweep
    assert "\x1b" not in shown.stdout and "\\x1b]0;pwned\\x07 [red]x" in shown.stdout
    listed = gpt_tui("sweep", "ls", store=store.root, COLUMNS="300")
    assert listed.returncode == 0 and "1e+308 (t001)" in listed.stdout, listed.stderr


def test_the_engine_skips_broken_sweeps_once_logged_and_keeps_serving_a_tpe_sweep(store):
    for sweep_id in ("run-text", "budget-inf", "number-text", "param-type", "twice", "id-other"):
        write_broken(store, sweep_id)  # these sort before "tpe": the driver meets them first
    spec = sw.SweepSpec(
        id="tpe",
        method="tpe",
        base={**TINY, "max_iters": 20},
        n_trials=2,
        seed=1,
        params={"learning_rate": LogUniform(1e-3, 3e-2)},
    )
    sf.create(store, sp.plan(spec))  # TPE's trials come from the engine's sweep driver alone
    before = {p.name: p.read_bytes() for p in store.sweeps_dir.glob("*.toml") if p.name != "tpe.toml"}
    engine = EngineProc(store)
    try:
        wait_for(lambda: sf.load(store, "tpe").finished, what="the TPE sweep to finish")
        assert engine.proc.poll() is None, engine.log()
    finally:
        engine.stop()
    log = engine.log()
    record = sf.load(store, "tpe")
    assert [r["number"] for r in record.runs] == [1, 2]
    assert all(store.status(r).state == "done" for r in record.run_ids())
    for sweep_id in ("run-text", "budget-inf", "number-text", "param-type", "twice", "id-other"):
        assert log.count(f"sweep {sweep_id}: broken, skipped until its file changes") == 1, log
    assert "Traceback" not in log and "after a bug" not in log
    assert {p.name: p.read_bytes() for p in store.sweeps_dir.glob("*.toml") if p.name != "tpe.toml"} == before


async def test_the_sweep_screen_queues_a_new_sweep_beside_broken_sweep_files(fixed_store):
    from tests.tui.test_sweep_screen import open_sweep_screen, type_into
    from tests.tui_store import make_app, until
    from tui.screens.runs import RunsScreen

    for sweep_id in ("run-text", "budget-inf", "dist-range"):
        write_broken(fixed_store, sweep_id)
    (fixed_store.sweeps_dir / "lr.toml").write_text('run = "x"\n')  # the name about to be asked for
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sweep_screen(pilot)
        await type_into(pilot, "param-0", "learning_rate")
        await type_into(pilot, "values-0", "1e-3,3e-3")
        await type_into(pilot, "sweep-name", "lr")
        await until(pilot, lambda: screen.ready)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and "lr-2" in sf.ids(fixed_store))
        assert app.is_running
    record = sf.load(fixed_store, "lr-2")
    assert [r["params"]["learning_rate"] for r in record.runs] == [1e-3, 3e-3] and len(record.run_ids()) == 2
    assert (fixed_store.sweeps_dir / "lr.toml").read_text() == 'run = "x"\n'


# -- F7: a store this user may not write --------------------------------------------------------

# Root writes through any mode bits (CAP_DAC_OVERRIDE): as root, the command runs without that
# capability, as the store's owner with no right to write it, which is what mode bits then say.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def as_another_user(*args: str, store: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400", "GPT_TUI_RUNS": str(store)}
    return subprocess.run(
        [*NO_OVERRIDE, sys.executable, "-m", "tui", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def read_only(path: Path, writable: bool = False) -> None:
    for p in [path, *path.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200 if writable else p.stat().st_mode & ~0o222)


@pytest.fixture(scope="module")
def locked_store(tmp_path_factory):
    """A store with one queued run, made read-only; a write as this user must really fail."""
    if NO_OVERRIDE and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: nothing here can deny root a write")
    root = tmp_path_factory.mktemp("locked") / "runs"
    made = gpt_tui("run", "--preset", "quickstart", "--set", "max_iters=20", "--set", "eval_interval=10",
                   "--set", "warmup_iters=5", "--name", "mine", "--no-engine", store=root)  # fmt: skip
    assert made.returncode == 0, made.stderr
    (run_id,) = [p.name for p in root.iterdir() if p.name.startswith("20")]
    read_only(root)
    probe = subprocess.run([*NO_OVERRIDE, "touch", str(root / "probe")], capture_output=True)
    if probe.returncode == 0:
        read_only(root, writable=True)
        pytest.skip("this machine lets the test write a read-only folder; F7 cannot be shown here")
    yield root, run_id
    read_only(root, writable=True)


COMMANDS = {  # command: the file or folder it must name
    "note": (["note", "{run}", "a note"], "{root}/{run}"),
    "run": (
        [
            "run",
            "--preset",
            "quickstart",
            "--set",
            "max_iters=20",
            "--set",
            "eval_interval=10",
            "--set",
            "warmup_iters=5",
            "--no-engine",
        ],
        "{root}",
    ),  # fmt: skip
    "retry": (["retry", "{run}", "--no-engine"], "{root}"),
    "delete": (["delete", "--yes", "{run}"], "{root}/queue"),
    "export": (["export", "--out", "{root}/table.md"], "{root}"),
    "engine start": (["engine", "start"], "{root}"),
    "sweep": (["sweep", "grid", "learning_rate=1e-3,2e-3", "--preset", "quickstart", "--no-engine"], "{root}/sweeps"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_on_a_read_only_store_names_what_it_cannot_write_exits_non_zero_and_changes_nothing(
    locked_store, command
):
    root, run_id = locked_store
    args, where = COMMANDS[command]
    before = tree(root)
    out = as_another_user(*(a.format(run=run_id, root=root) for a in args), store=root)
    message = one_line(out.stderr)
    assert out.returncode == 2, out.stderr  # a person's problem (2), not a bug (1)
    assert "Traceback" not in out.stderr and "bug" not in out.stderr, out.stderr
    expected = f"error: cannot write {where.format(run=run_id, root=root)}: permission denied; "
    assert expected in message, message
    fix = "give another --out" if command == "export" else "run as the store's owner"
    assert fix in message and (command == "export" or "or pick another --runs" in message), message
    assert tree(root) == before


def test_reading_a_read_only_store_still_works(locked_store):
    root, run_id = locked_store
    out = as_another_user("ls", store=root)
    assert out.returncode == 0 and run_id in out.stdout, out.stderr


def test_export_to_a_folder_this_user_cannot_write_names_it_and_writes_nothing(tmp_path, locked_store):
    root, _ = locked_store
    shut = tmp_path / "shut"
    shut.mkdir()
    read_only(shut)
    try:
        out = as_another_user("export", "--out", str(shut / "t.md"), store=root)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert f"error: cannot write {shut}: permission denied; give another --out" in one_line(out.stderr)
        assert list(shut.iterdir()) == []
        folder = as_another_user("export", "--out", str(shut), store=root)
        assert folder.returncode == 2 and f"{shut} is a folder" in one_line(folder.stderr), folder.stderr
    finally:
        read_only(shut, writable=True)


def test_an_os_error_that_names_no_file_still_shows_as_a_bug():
    from tui.cli.oserrors import cannot_write

    assert cannot_write(PermissionError(1, "Operation not permitted"), Path("runs")) is None  # os.kill's
    assert cannot_write(OSError(5, "Input/output error", "runs/x"), Path("runs")) is None  # not a person's to fix
    named = cannot_write(PermissionError(13, "Permission denied", "/nowhere/at/all/x"), Path("runs"))
    assert str(named) == "cannot write /nowhere/at/all: permission denied; pick a place you can write to"


# -- F15: a number past its field's type in --set ------------------------------------------------


@pytest.mark.parametrize(
    "override,words",
    [
        (
            "max_iters=99999999999999999999999",
            "max_iters: must be an integer from 1 to 2^63-1, got 99999999999999999999999",
        ),
        (
            "max_iters=" + "9" * 5000,
            "max_iters: must be an integer from 1 to 2^63-1, got a number of about 5,000 digits",
        ),
        ("seed=-99999999999999999999999", "seed: must be an integer from 0 to 2^63-1"),
        ("eval_iters=1e30", "eval_iters: must be an integer from 1 to 10,000"),
        ("learning_rate=1e999", "learning_rate: must be a number above 0 and at most 1, got inf"),
        ("dropout=nan", "dropout: must be a number in [0, 1), got nan"),
        ("grad_clip=inf", "grad_clip: must be a finite number, 0 or more, got inf"),
    ],
    ids=["23-digits", "5000-digits", "negative", "1e30-int", "1e999", "nan", "inf"],
)
def test_a_number_past_its_field_in_set_is_refused_naming_the_field_and_its_allowed_range(tmp_path, override, words):
    out = gpt_tui("run", "--preset", "quickstart", "--set", override, "--no-engine", store=tmp_path / "runs")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert words in one_line(out.stderr), out.stderr
    assert not (tmp_path / "runs").exists() or not any(p.name.startswith("20") for p in (tmp_path / "runs").iterdir())


def test_a_sweep_budget_or_range_past_its_limits_is_refused_before_anything_is_queued(tmp_path):
    out = gpt_tui(
        "sweep", "random", "-n", "3", "learning_rate=log:1e-4:1e308", "--max-hours", "inf", "--preset", "quickstart",
        "--no-engine", store=tmp_path / "runs",
    )  # fmt: skip
    assert out.returncode == 2 and "--max-hours: must be above 0 and at most 87,600" in one_line(out.stderr)
    out = gpt_tui(
        "sweep", "random", "-n", "3", "learning_rate=log:1e-4:1e308", "dropout=0:1.5", "--seed", "9" * 30,
        "--preset", "quickstart", "--no-engine", store=tmp_path / "runs",
    )  # fmt: skip
    message = one_line(out.stderr)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "learning_rate: the range log:0.0001:1e+308 reaches outside what learning_rate may be" in message
    assert "dropout: the range 0.0:1.5 reaches outside what dropout may be: a number in [0, 1)" in message
    assert "seed: must be a whole number from 0 to 2^63-1" in message
    out = gpt_tui(
        "sweep", "grid", "learning_rate=1e-3,2e-3", "--preset", "quickstart", "--priority", "9" * 20, "--no-engine",
        store=tmp_path / "runs",
    )  # fmt: skip
    assert out.returncode == 2 and "--priority: must be from -99 to 99" in one_line(out.stderr), out.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not [p for p in runs.rglob("*") if p.is_file() and not p.name.startswith(".")]
