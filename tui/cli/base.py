"""What every `gpt-tui` command shares: consoles, exit codes, the command registry, config options."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.markup import escape  # every message may quote what a person typed: "[/x]" is not markup

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.core.presets import PRESETS

console = Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
err_console = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn
    return register


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors through rich with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        err_console.print(f"[bold red]error:[/] {escape(message)}")
        err_console.print(f"[dim]see `{self.prog} --help`[/]")
        sys.exit(EXIT_USAGE)


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", "-p", help=f"start from a preset ({', '.join(PRESETS)})")
    p.add_argument("--config", "-c", type=Path, help="a TOML file of hyperparameters (applied after the preset)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter (repeatable), e.g. --set learning_rate=3e-4")


def config_from_args(args: argparse.Namespace) -> cfgmod.RunConfig:
    return cfgmod.resolve(args.preset, args.config, args.overrides)


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
    from engine.store.runs import write_atomic

    write_atomic(out, text)
    console.print(f"wrote {what} to {escape(str(out))}")
