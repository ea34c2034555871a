"""The `gpt-tui` command: no arguments opens the app; subcommands do the rest from a shell.
`main` turns what a command raises into its message and exit code."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import rich_click as click

from engine.core.config import ConfigError
from engine.core.errors import GptTuiError
from engine.store.runs import never_world_writable, resolve_root
from tui.cli import config, control, report, runs, show, train
from tui.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Group,
    err_console,
    fail,
    report_config_error,
    size_consoles,
)
from tui.cli.datasets import datasets
from tui.cli.engines import engine
from tui.cli.fork import fork
from tui.cli.lrfind import lr_find
from tui.cli.oserrors import cannot_write
from tui.cli.sweep import sweep

EXIT_INTERRUPTED = 130
PANELS = {  # the help lists the commands by what they are for
    "configs": config.COMMANDS,
    "runs": [runs.run, runs.ls, show.show, runs.logs, *control.COMMANDS, fork, runs.export],
    "training in the foreground": [*train.COMMANDS, datasets],
    "engine and sweeps": [engine, sweep, lr_find, report.report],
}


@click.group(
    "gpt-tui",
    cls=Group,
    invoke_without_command=True,
    commands=[command for commands in PANELS.values() for command in commands],
    panels=[click.RichCommandPanel(title, commands=[c.name for c in cs]) for title, cs in PANELS.items()],
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.option("--runs", metavar="DIR", help="the run store (default: $GPT_TUI_RUNS, else ./runs)")
@click.pass_context
def gpt_tui(ctx: click.Context, runs: str | None) -> int:
    """A terminal lab for training small GPT models. With no command, opens the app."""
    never_world_writable()  # whatever the umask, the store this creates is not writable by every user
    if runs is not None:
        os.environ["GPT_TUI_RUNS"] = runs  # workers and engines started from here inherit it
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from tui.app import run_app  # textual, only when the app is asked for

    return run_app(runs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; a GptTuiError is the person's to fix (2), anything else is a bug (1)."""
    size_consoles()
    try:
        code = gpt_tui.main(
            args=sys.argv[1:] if argv is None else list(argv), prog_name="gpt-tui", standalone_mode=False
        )
    except ConfigError as e:
        report_config_error(e)
        return EXIT_USAGE
    except GptTuiError as e:  # StoreError, ControlError, DataError, ...: a message for a person
        return fail(str(e))
    except click.ClickException as e:  # a usage error: an unknown option, a bad value, a missing argument
        fail(e.format_message(), e.exit_code)
        if isinstance(e, click.UsageError) and e.ctx is not None:
            err_console.print(f"[dim]see `{e.ctx.command_path} --help`[/]")
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        err_console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except SystemExit as e:  # rich-click exits itself after printing the help of a bare group
        return EXIT_OK if e.code is None else e.code if isinstance(e.code, int) else EXIT_FAILED
    except OSError as e:  # a store another user owns, a read-only or full disk: the person's to fix
        problem = cannot_write(e, resolve_root(None))  # --runs is in $GPT_TUI_RUNS by now
        if problem is None:
            return bug()
        return fail(str(problem))
    except Exception:
        return bug()
    return code if isinstance(code, int) else EXIT_OK


def bug() -> int:
    """What escaped is not a problem a person can fix: show it as the bug it is."""
    traceback.print_exc()
    err_console.print("[bold red]this is a bug in gpt-tui; please report it with the traceback above[/]")
    return EXIT_FAILED


__all__ = ["main", "gpt_tui"]
