"""What every `gpt-tui` command shares: consoles, exit codes, the store, config options, messages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import rich_click as click
from rich.console import Console
from rich.markup import escape  # every message may quote what a person typed: "[/x]" is not markup

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.core.presets import PRESETS
from engine.core.rules import warnings_for
from engine.serve import engines as eng
from engine.serve.wake import wake
from engine.store import lookup
from engine.store import runs as st
from tui.cli.oserrors import CannotWrite, cannot_write
from tui.models.editor_model import dataset_problem

console = Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
err_console = Console(stderr=True, highlight=False)


def size_consoles() -> None:
    """Each command's widths, from the environment it runs in (not the one this module was first
    imported in): a terminal's own or $COLUMNS, else 200 columns, so that a line written to a
    file or a pipe is not cut at 80."""
    for out, stream in ((console, sys.stdout), (err_console, sys.stderr)):
        out.width = None if stream.isatty() or os.environ.get("COLUMNS") else 200


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


RUN_ID = dict(help="the run: its name, its id, or the start of its id (`gpt-tui ls` lists them)")


class Group(click.RichGroup):
    """A group that lists its commands in the order given and names the nearest to a typo."""

    what = "command"
    also = ""  # what else the group accepts, for the message about an unknown command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as e:
            hint = cfgmod.suggest(e.command_name, self.commands)
            raise click.UsageError(
                f"unknown {self.what} {e.command_name!r}{hint} (choose from {', '.join(self.commands)}{self.also})", ctx
            ) from None


def config_options(f: F) -> F:
    """--preset, --config and any number of --set, applied in that order (config_from)."""
    f = click.option(
        "--set",
        "-s",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="override one hyperparameter (repeatable, applied in order), e.g. --set learning_rate=3e-4",
    )(f)
    f = click.option(
        "--config",
        "-c",
        type=click.Path(path_type=Path),
        metavar="FILE",
        help="a TOML file of hyperparameters (applied after the preset)",
    )(f)
    return click.option("--preset", "-p", metavar="NAME", help=f"start from a preset ({', '.join(PRESETS)})")(f)


def config_from(
    preset: str | None, config: Path | None, overrides: tuple[str, ...], queued: bool = True
) -> cfgmod.RunConfig:
    """The config the options describe; what is unusual about it is printed as warnings. `queued`:
    it is for a run, so its dataset must be there now (a missing path would fail only once a worker
    started it)."""
    cfg = cfgmod.resolve(preset, config, overrides)
    for p in warnings_for(cfg):
        err_console.print(f"[yellow]warning:[/] {escape(p.message)}")  # the message names its field
    problem = dataset_problem(cfg.dataset, cfg.text_field) if queued else None
    if problem is not None:
        raise ConfigError([cfgmod.Problem("dataset", problem)])
    return cfg


def runs_dir() -> str | None:
    """The global --runs, as the root command parsed it (None: $GPT_TUI_RUNS, else ./runs)."""
    return click.get_current_context().find_root().params.get("runs")


def store(existing: bool = False) -> st.Store:
    """The store --runs names, refused (StorePlaceError) where no store can be: a file, /proc, a folder
    whose own folder is missing. `existing`: a command that only reads also refuses a missing store,
    and so never makes one."""
    return lookup.checked_store(st.resolve_root(runs_dir()), must_exist=existing)


def existing_run(s: st.Store, text: str) -> str:
    """The id of the run `text` names: its id, its name or a unique start of its id (lookup.find_run);
    RunNotFound lists the candidates of an ambiguous one."""
    missing = lookup.store_place_problem(s.root, must_exist=True)
    if missing is not None:
        raise lookup.StorePlaceError(f"no run {text!r}: {missing}")
    return lookup.find_run(s, text)


def ensure_engine(s: st.Store) -> eng.EngineInfo:
    """This store's engine, started when none is alive; one found alive is woken, to look at the
    queue now rather than at its next poll (every command calling this has just queued something)."""
    found = eng.local_engine(s)
    if found is not None:
        wake(found.pid)
        return found
    info = eng.start_engine(s)
    err_console.print(f"[dim]started an engine (pid {info.pid}); its log is {s.root / eng.ENGINE_LOG}[/]")
    return info


def report_config_error(e: ConfigError) -> None:
    where = f" in {e.source}" if e.source else ""
    err_console.print(f"[bold red]error:[/] {len(e.problems)} problem(s){escape(where)}")
    for p in e.problems:
        err_console.print(f"  [bold]{escape(str(p.field))}[/]: {escape(p.message)}")


def fail(message: str, code: int = EXIT_USAGE) -> int:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    return code


def emit(text: str, out: Path | None, what: str) -> None:
    """A table's text to `out` (atomically) or to stdout; `what` says what was written."""
    if out is None:
        sys.stdout.write(text)
        return
    if out.is_dir():
        raise CannotWrite(f"{out} is a folder; give --out a file name, e.g. {out / 'table.md'}")
    if not out.parent.is_dir():
        raise CannotWrite(
            f"cannot write {out}: the folder {out.parent} does not exist; create it or give another --out"
        )
    try:
        st.write_atomic(out, text)
    except OSError as e:
        problem = cannot_write(e, st.resolve_root(runs_dir()), fix="give another --out")
        if problem is None:
            raise
        raise problem from None
    console.print(f"wrote {what} to {escape(str(out))}")
