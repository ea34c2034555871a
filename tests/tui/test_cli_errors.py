"""How `gpt-tui` ends: a problem a person can fix is one `error:` message and exit 2, anything else
is a bug shown with its traceback and exit 1; every command's help is complete; the engine's options
are the same for `python -m engine` and `gpt-tui engine start`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from engine.core.errors import GptTuiError
from engine.serve.options import SPECS, EngineOptions, from_values
from engine.store import control
from engine.store import runs as st
from tui.cli import config as cli_config
from tui.cli import engines as cli_engines
from tui.cli.main import gpt_tui, main

ROOT = Path(__file__).resolve().parents[2]
BUG_LINE = "this is a bug in gpt-tui; please report it with the traceback above"


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_TUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TERMINAL_WIDTH", "200")  # rich-click's help: one line an option
    return tmp_path / "runs"


def test_a_gpt_tui_error_is_one_message_and_exit_2(capsys):
    assert main(["show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run 'nope'") and "Traceback" not in err and BUG_LINE not in err


def test_any_gpt_tui_error_from_a_command_is_printed_as_it_is_written(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise control.ControlError("run [/x] is busy; try later")

    monkeypatch.setattr(cli_config, "vocab_for", refuse)
    assert main(["estimate", "--preset", "quickstart"]) == 2
    assert "run [/x] is busy; try later" in capsys.readouterr().err


def test_a_config_error_keeps_its_per_field_report(capsys):
    assert main(["estimate", "--set", "batch_size=12x4", "--set", "n_head=5"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: 2 problem(s) in --set")
    assert "batch_size: must be an integer" in err and "n_embd: n_embd (128) must be divisible by n_head" in err


@pytest.mark.parametrize("exception", [RuntimeError("boom"), ValueError("boom"), KeyError("boom")])
def test_an_unexpected_exception_is_a_bug_with_its_traceback_and_exit_1(capsys, monkeypatch, exception):
    def broken(*args, **kwargs):
        raise exception

    monkeypatch.setattr(cli_config, "estimate_table", broken)
    assert main(["estimate", "--preset", "quickstart", "--vocab-size", "65"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and f"{type(exception).__name__}: " in err
    assert "estimate_table" in err or "broken" in err
    assert err.strip().endswith(BUG_LINE)


def test_a_gpt_tui_error_raised_directly_is_not_a_bug(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise GptTuiError("nothing to estimate")

    monkeypatch.setattr(cli_config, "estimate_table", refuse)
    assert main(["estimate", "--preset", "quickstart", "--vocab-size", "65"]) == 2
    assert capsys.readouterr().err == "error: nothing to estimate\n"


def test_an_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_config, "estimate_table", interrupted)
    assert main(["estimate", "--preset", "quickstart", "--vocab-size", "65"]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,words",
    [
        (["ls", "--colour"], "No such option '--colour'"),
        (["show"], "Missing argument 'RUN'"),
        (["run", "--priority", "high"], "'high' is not a valid integer"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["engine", "start", "--workers", "0"], "0 is not in the range x>=1"),
    ],
)
def test_a_usage_error_is_a_message_pointing_at_the_help_and_exit_2(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "--help`" in err and BUG_LINE not in err


def test_a_group_without_its_command_shows_its_help_and_exits_2(capsys):
    assert main(["engine"]) == 2
    assert "start" in capsys.readouterr().out


def every_command(group: click.Group = gpt_tui, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.mark.parametrize(
    "path,command", list(every_command()), ids=lambda x: " ".join(("gpt-tui", *x)) if isinstance(x, tuple) else ""
)
def test_every_help_exits_0_and_shows_each_option_with_its_help(capsys, path, command):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: gpt-tui" in out
    for param in command.params:
        assert getattr(param, "help", None), f"{' '.join(path)}: {param.name} has no help"
        if isinstance(param, click.Option):
            assert all(flag in out for flag in param.opts), (param.opts, out)
        else:
            assert param.human_readable_name.upper() in out.upper(), (param.name, out)
    if isinstance(command, click.Group):
        assert all(name in out for name in command.commands)


def flags_in_help(*argv: str) -> set[str]:
    env = {**os.environ, "TERMINAL_WIDTH": "200"}
    out = subprocess.run(
        [sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out.stdout)) - {"--help"}


def test_python_m_engine_and_gpt_tui_engine_start_list_the_same_engine_options():
    daemon = flags_in_help("-m", "engine")
    start = flags_in_help("-m", "tui", "engine", "start")
    assert daemon - {"--runs"} == start
    assert {flag for flag, *_ in SPECS} <= start


def test_engine_start_hands_its_options_to_the_daemon_it_spawns(capsys, monkeypatch):
    from engine.__main__ import serve  # the daemon's own parser reads back what start passed

    passed = []
    monkeypatch.setattr(cli_engines.eng, "local_engine", lambda store: None)
    monkeypatch.setattr(
        cli_engines.eng,
        "start_engine",
        lambda store, argv: (
            passed.append(argv)
            or cli_engines.eng.EngineInfo(store.root / "engine-x.toml", st.EngineRecord(42, "x"), True)
        ),
    )
    argv = ["engine", "start", "--workers", "3", "--executor", "submitit-local", "--time-min", "5", "--until-idle"]
    assert main(argv) == 0, capsys.readouterr().err
    (daemon_argv,) = passed
    assert daemon_argv == ["--workers", "3", "--until-idle", "--executor", "submitit-local", "--time-min", "5.0"]
    with serve.make_context("python -m engine", list(daemon_argv)) as ctx:
        assert from_values(ctx.params) == EngineOptions(
            workers=3, until_idle=True, executor="submitit-local", time_min=5.0
        )
    assert main(["engine", "start"]) == 0
    assert passed[-1] == []  # the defaults are the daemon's own
