"""The `gpt-tui` command: no arguments opens the app; subcommands do the rest from a shell."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from rich.console import Console

from engine import config as cfgmod
from engine.presets import PRESETS
from engine.config import ConfigError

# Piped output is not cut to 80 columns: tables stay whole for grep and files.
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
        err_console.print(f"[bold red]error:[/] {message}")
        err_console.print(f"[dim]see `{self.prog} --help`[/]")
        sys.exit(EXIT_USAGE)


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", "-p", help=f"start from a preset ({', '.join(PRESETS)})")
    p.add_argument("--config", "-c", type=Path, help="a TOML file of hyperparameters (applied after the preset)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter (repeatable), e.g. --set learning_rate=3e-4")


def config_from_args(args: argparse.Namespace) -> cfgmod.RunConfig:
    return cfgmod.resolve(args.preset, args.config, args.overrides)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="gpt-tui",
        description="A terminal lab for training small GPT models. With no command, opens the app.",
    )
    parser.add_argument("--runs", metavar="DIR",
                        help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    p = sub.add_parser("estimate", help="parameters, FLOPs, memory and time of a config, before launching")
    add_config_options(p)
    p.add_argument("--tokens-per-s", type=float, metavar="N", help="throughput to estimate the run's time at")
    p.add_argument("--vocab-size", type=int, metavar="N", help="vocabulary size (default: from the tokenizer)")

    p = sub.add_parser("config", help="print a resolved config as TOML (or write it with --out)")
    add_config_options(p)
    p.add_argument("--out", "-o", type=Path, help="write the TOML to this file instead of printing it")

    sub.add_parser("fields", help="every hyperparameter with its group, default and help")
    sub.add_parser("presets", help="the built-in presets")

    from tui import cli_runs, cli_train
    cli_train.add_parsers(sub)
    cli_runs.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.runs is not None:
        os.environ["GPT_TUI_RUNS"] = args.runs  # workers and engines started from here inherit it
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return COMMANDS[args.command](args)
    except ConfigError as e:
        report_config_error(e)
        return EXIT_USAGE
    except ValueError as e:  # StoreError, ControlError, DataError: a message for a person
        err_console.print(f"[bold red]error:[/] {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130


def report_config_error(e: ConfigError) -> None:
    where = f" in {e.source}" if e.source else ""
    err_console.print(f"[bold red]error:[/] {len(e.problems)} problem(s){where}")
    for p in e.problems:
        err_console.print(f"  [bold]{p.field}[/]: {p.message}")


def fail(message: str, code: int = EXIT_USAGE) -> int:
    err_console.print(f"[bold red]error:[/] {message}")
    return code


from tui import cli_config, cli_runs, cli_train  # noqa: E402,F401  (their commands register themselves)
