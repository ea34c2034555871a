"""Hostile input: fuzzed configs, overrides, sweep specs and log bytes either work or raise the
module's own error with a message; run ids that climb out of the store are refused by every
command; sizes no machine could train are refused from the estimate before anything is allocated."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hs

from engine.core import config as cfgmod
from engine.store import runs as st
from engine.store.logfile import LogTail, format_record, parse_records, read_log
from engine.sweeps import distributions as dist
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw
from tests.tui.test_cli import gpt_tui, tree

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# -- what the fuzzers draw from ------------------------------------------------------------------

NAMES = hs.one_of(hs.sampled_from(sorted(cfgmod.FIELDS)), hs.text(max_size=12))
NUMBER_TEXT = hs.one_of(
    hs.integers().map(str),
    hs.floats(allow_nan=True, allow_infinity=True).map(repr),
    hs.sampled_from(["1e999", "-0", "nan", "inf", "0x10", "1_000", "9" * 5000, "1e-400", "12x4", "", "①"]),
)
SCALARS = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.integers(),
    hs.integers(min_value=-(2**70), max_value=2**70),
    hs.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]),
    hs.floats(),
    hs.text(max_size=30),
    hs.sampled_from(["cuda:①", "cuda:" + "9" * 20, "cuda:-1", "mps", "gpt2", "char", "[/x]", "a\x00b"]),
)
VALUES = hs.recursive(
    SCALARS,
    lambda inner: hs.one_of(hs.lists(inner, max_size=4), hs.dictionaries(hs.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
TOML_VALUES = hs.one_of(
    NUMBER_TEXT,
    hs.sampled_from(
        [
            "true",
            "false",
            '"text"',
            "'lit'",
            "[1, 2]",
            "{a = 1}",
            "[" * 3000,
            "{a=" * 3000,
            '"""x"""',
            "1979-05-27",
            '"unterminated',
            "= =",
            "[[x]]",
        ]
    ),
    hs.text(max_size=20),
)
TOML_LINES = hs.tuples(NAMES, TOML_VALUES).map(lambda kv: f"{kv[0]} = {kv[1]}")
TOMLISH = hs.one_of(
    hs.text(max_size=200),
    hs.lists(TOML_LINES, max_size=8).map("\n".join),
    hs.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
)
CAPS = hs.sampled_from([None, cfgmod.DeviceCaps(), cfgmod.DeviceCaps(cuda_count=2, cuda_bf16=True)])


def problems_have_messages(e: cfgmod.ConfigError) -> None:
    assert e.problems and all(isinstance(p.message, str) and p.message for p in e.problems), e.problems
    str(e)  # the whole report can be printed


# -- configs and overrides -------------------------------------------------------------------------


@FUZZ
@given(TOMLISH, CAPS)
@example("n_layer = " + "9" * 5000, None)  # past Python's int conversion limit
@example("a = " + "[" * 3000, None)  # deeper than the recursion limit
@example("learning_rate = " + "9" * 400, None)  # an int no float can hold
def test_any_config_text_parses_or_raises_config_error_with_messages(text, caps):
    try:
        cfg = cfgmod.from_toml(text, caps=caps)
    except cfgmod.ConfigError as e:
        problems_have_messages(e)
    else:
        assert cfgmod.from_toml(cfgmod.to_toml(cfg)) == cfg


@FUZZ
@given(hs.dictionaries(NAMES, VALUES, max_size=6), CAPS)
@example({"device": "cuda:①"}, cfgmod.DeviceCaps(cuda_count=2))  # a digit int() cannot read
@example({"dtype": 5}, None)
@example({"n_embd": 10**18 + 1, "n_head": 3}, None)  # no divisor search over 10^18 candidates
def test_any_mapping_of_values_builds_a_config_or_raises_config_error(data, caps):
    try:
        cfgmod.from_mapping(data, caps=caps)
    except cfgmod.ConfigError as e:
        problems_have_messages(e)


@FUZZ
@given(hs.lists(hs.one_of(hs.tuples(NAMES, NUMBER_TEXT).map("=".join), hs.text(max_size=30)), max_size=6), CAPS)
def test_any_set_overrides_resolve_or_raise_config_error(overrides, caps):
    try:
        cfgmod.overrides_to_mapping(overrides)
        cfgmod.resolve(None, None, overrides, caps)
    except cfgmod.ConfigError as e:
        problems_have_messages(e)


# -- sweep specs ---------------------------------------------------------------------------------

SPEC_TEXT = hs.one_of(
    hs.lists(NUMBER_TEXT, min_size=1, max_size=4).map(",".join),
    hs.tuples(hs.sampled_from(["", "log:", "int:", "LOG:", "foo:"]), NUMBER_TEXT, NUMBER_TEXT).map(
        lambda t: f"{t[0]}{t[1]}:{t[2]}"
    ),
    hs.text(max_size=20),
)
PARAM_TEXTS = hs.lists(hs.one_of(hs.tuples(NAMES, SPEC_TEXT).map("=".join), hs.text(max_size=20)), max_size=4)


@FUZZ
@given(NAMES, SPEC_TEXT)
@example("batch_size", "9.223372036854776e+18")  # 2^63: an int no TOML file could hold
def test_any_distribution_text_parses_or_raises_distribution_error(name, text):
    if name not in cfgmod.FIELDS:
        assert dist.parse_problem(name, text)[1] is not None
        return
    try:
        d = dist.parse(name, text)
    except dist.DistributionError as e:
        assert str(e)
    else:
        assert dist.from_toml_value(name, dist.to_toml_value(d))[0] == d


@FUZZ
@given(PARAM_TEXTS, hs.sampled_from(["grid", "random", "tpe"]), hs.integers(min_value=-2, max_value=20))
def test_any_sweep_command_line_plans_or_raises_config_error(texts, method, n_trials):
    try:
        params = sw.parse_params(texts)
        spec = sw.SweepSpec(
            id="fuzz", method=method, params=params, n_trials=n_trials, base={"max_iters": 10, "eval_interval": 5}
        )
        plan = sp.plan(spec)
    except cfgmod.ConfigError as e:
        problems_have_messages(e)
    else:
        assert all(t.config is not None for t in plan.trials) and all(t.reason for t in plan.skipped)


SWEEP_LINES = hs.one_of(
    TOML_LINES,
    hs.sampled_from(
        [
            "[params]",
            "[base]",
            "[early_stopping]",
            "[[trial]]",
            "method = 5",
            "rule = 5",
            "rule = [1]",
            'method = "grid"',
            'learning_rate = [1e-3, "x"]',
            "n_layer = []",
            'n_layer = "int:1:99999999"',
            "n_trials = 99999999",
            "max_trials = -1",
            "eta = true",
            'learning_rate = "log:0:1"',
        ]
    ),
)


@FUZZ
@given(hs.lists(SWEEP_LINES, max_size=10).map("\n".join))
@example("[early_stopping]\nrule = 5")
@example('method = "grid"\n[params]\nn_layer = "int:1:999"\nn_embd = "int:1:999"')
def test_any_sweep_file_parses_or_raises_config_error(text):
    try:
        sw.from_toml(text, source="fuzz.toml", default_id="fuzz")
    except cfgmod.ConfigError as e:
        problems_have_messages(e)


def test_a_grid_too_large_to_plan_is_refused_at_once():
    params = sw.parse_params(["n_layer=int:1:999", "n_embd=int:1:999", "block_size=int:1:999"])
    started = time.monotonic()
    with pytest.raises(cfgmod.ConfigError) as e:
        sp.plan(sw.SweepSpec(id="huge", method="grid", params=params))
    assert time.monotonic() - started < 2
    assert "997,002,999 combinations is more than the 10,000" in str(e.value)
    with pytest.raises(cfgmod.ConfigError, match="more than the 10,000 trials"):
        sp.plan(sw.SweepSpec(id="huge", method="random", params=params, n_trials=10**9))


# -- the log reader ------------------------------------------------------------------------------

RECORD = format_record("train", {"step": 1, "loss": 2.5, "note": "ok"}).encode()
LOG_PIECES = hs.one_of(
    hs.just(RECORD),
    hs.binary(max_size=40),
    hs.sampled_from(
        [
            b"\n\n",
            b"[[train]]\nstep = " + b"9" * 5000 + b"\n\n",
            b"[[t]]\na = " + b"[" * 3000 + b"\n\n",
            b'[[eval]]\nstep = "ten"\n\n',
            b"\xff\xfe\n\n",
            b"[[train]]\nstep = 1\nstep = 2\n\n",
            b"x = 1\n\n",
            b"[[train]]\nloss = nan\n\n",
            b"[a]\nb = 1\n\n",
        ]
    ),
)
LOG_BYTES = hs.lists(LOG_PIECES, max_size=12).map(b"".join)


@FUZZ
@given(LOG_BYTES)
def test_any_bytes_parse_into_records_and_skipped_chunks_never_an_error(data):
    end = data.rfind(b"\n\n") + 2
    read = parse_records(data[:end] if end >= 2 else b"")
    assert all(isinstance(t, str) and isinstance(r, dict) for t, r in read.records)
    assert read.skipped >= 0


@FUZZ
@given(hs.lists(LOG_BYTES, min_size=1, max_size=4))
def test_a_tail_over_any_appended_bytes_never_raises(tmp_path_factory, chunks):
    path = tmp_path_factory.mktemp("log") / "metrics.toml"
    tail, seen = LogTail(path), []
    with open(path, "ab") as f:
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            seen += tail.poll()
    assert all(isinstance(t, str) and isinstance(r, dict) for t, r in seen)
    if all(chunk == RECORD * (len(chunk) // len(RECORD)) for chunk in chunks):  # whole records only
        assert seen == read_log(path).records and tail.skipped == 0


@FUZZ
@given(hs.one_of(TOMLISH.map(str.encode), hs.binary(max_size=200)))
def test_any_state_file_reads_or_raises_store_error_naming_it(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("state") / "status.toml"
    path.write_bytes(data)
    try:
        st.read_toml(path)
    except st.StoreError as e:
        assert "status.toml" in str(e) and "\n" not in str(e)


# -- run ids that climb out of the store -------------------------------------------------------------

HOSTILE_IDS = [
    "../outside",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "a/../../outside",
    "runs/../x",
    "x\\..\\y",
    ".hidden",
    "queue",
    "results.toml",
    "engine-x",
    "x\x00y",
    "a b",
    "[/x]",
    "é",
    "x" * 200,
]
RUN = object()  # where the id goes in a command
COMMANDS = [
    ["show", RUN],
    ["stop", RUN],
    ["cancel", RUN],
    ["logs", RUN],
    ["resume", RUN, "--no-engine"],
    ["retry", RUN, "--no-engine"],
    ["delete", RUN, "--yes"],
    ["note", RUN, "text"],
    ["priority", RUN, "3"],
    ["sample", RUN, "--tokens", "5"],
]


@pytest.fixture
def guarded_store(tmp_path):
    """A store with a run in it, next to a folder a climbing id would reach."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched")
    root = tmp_path / "runs"
    s = st.Store(root)
    s.create_run(cfgmod.to_toml(cfgmod.DEFAULTS), "inside", {})
    return tmp_path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_refuses_run_ids_that_leave_the_store(guarded_store, command, capsys, monkeypatch):
    from tui.cli.main import main

    monkeypatch.setenv("GPT_TUI_RUNS", str(guarded_store / "runs"))
    before = tree(guarded_store)
    for run_id in HOSTILE_IDS:
        argv = [run_id if a is RUN else a for a in command]
        assert main(argv) == 2, (argv, capsys.readouterr())
        err = capsys.readouterr().err
        assert "run id" in err, (argv, err)
    assert tree(guarded_store) == before


def test_sweep_show_refuses_ids_that_leave_the_store(guarded_store, capsys, monkeypatch):
    from tui.cli.main import main

    monkeypatch.setenv("GPT_TUI_RUNS", str(guarded_store / "runs"))
    before = tree(guarded_store)
    for sweep_id in ["../outside/keep", "/etc/passwd", "..", "x/../../y", "[/x]"]:
        assert main(["sweep", "show", sweep_id]) == 2
        assert "not a sweep id" in capsys.readouterr().err
    assert tree(guarded_store) == before


def test_a_climbing_run_id_from_a_shell_exits_2_and_writes_nothing(guarded_store):
    before = tree(guarded_store)
    out = gpt_tui("note", "../outside", "[/x] pwned", store=guarded_store / "runs")
    assert out.returncode == 2 and "path separator" in out.stderr and "Traceback" not in out.stderr
    assert tree(guarded_store) == before


# -- sizes no machine can train --------------------------------------------------------------------


@pytest.mark.parametrize(
    "override,field,words",
    [
        ("n_layer=1000000", "n_layer", "parameters"),
        ("n_embd=10000000", "n_embd", "parameters"),
        ("block_size=1000000000", "block_size", "tokens"),
        ("batch_size=1000000000", "batch_size", "memory"),
        ("n_embd=65536", "n_embd", "parameters"),  # with the gpt2 vocabulary: 50,304 x 65,536 embeddings alone
    ],
)
def test_absurd_sizes_are_refused_from_the_estimate_before_anything_is_allocated(override, field, words):
    tracemalloc.start()
    try:
        with pytest.raises(cfgmod.ConfigError) as e:
            cfgmod.resolve(None, None, [override, "tokenizer=gpt2", "n_head=4"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"validation allocated {peak:,} bytes"
    problem = next(p for p in e.value.problems if words in p.message)
    assert problem.field == field and f"lower {field}" in problem.message


def test_sizes_just_inside_the_limits_are_still_accepted():
    cfgmod.resolve("gpt2-124m")
    cfgmod.from_mapping({"n_layer": 48, "n_embd": 1600, "n_head": 25, "tokenizer": "gpt2"})  # GPT-2 XL, 1.6B


def test_the_cli_refuses_an_absurd_run_with_exit_2_and_writes_nothing(tmp_path):
    store = tmp_path / "runs"
    st.Store(store).ensure()
    before = tree(store)
    out = gpt_tui("run", "--set", "n_layer=1000000", "--no-engine", store=store)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "n_layer" in out.stderr and "parameters" in out.stderr and "lower n_layer" in out.stderr
    assert tree(store) == before


def test_the_rules_import_the_estimate_without_a_cycle():
    for first in ("engine.core.rules", "engine.core.estimate", "engine.core.config", "engine.core.presets"):
        code = f"import {first}; from engine.core import config; config.from_mapping({{'n_layer': 2}})"
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
