"""The `gpt-tui` command: no arguments opens the app; subcommands do the rest from a shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from rich.markup import escape

from engine.core.errors import GptTuiError
from engine.core.config import ConfigError
from engine.store.runs import never_world_writable
from tui.cli import config as cli_config
from tui.cli import runs as cli_runs
from tui.cli import sweep as cli_sweep
from tui.cli import train as cli_train
from tui.cli.base import (
    COMMANDS, EXIT_USAGE, ArgumentParser, add_config_options, err_console, report_config_error,
)


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

    cli_train.add_parsers(sub)
    cli_runs.add_parsers(sub)
    cli_sweep.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    never_world_writable()  # whatever the umask, the store this creates is not writable by every user
    if args.runs is not None:
        os.environ["GPT_TUI_RUNS"] = args.runs  # workers and engines started from here inherit it
    if args.command is None:
        from tui.app import run_app
        return run_app(args.runs)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as e:
        report_config_error(e)
        return EXIT_USAGE
    except (GptTuiError, ValueError) as e:  # StoreError, ControlError, DataError: a message for a person
        err_console.print(f"[bold red]error:[/] {escape(str(e))}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130


__all__ = ["main", "cli_config"]  # cli_config registers its commands on import
