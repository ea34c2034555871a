"""`gpt-tui prepare --engine`: the preparation queued as an engine job (a run of kind prepare) instead
of done in the foreground; its progress shows in the runs table and `gpt-tui ls`, and it can be stopped
and resumed like any run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import rich_click as click
from rich.markup import escape

from engine.core import config as cfgmod
from engine.store import runs as st
from tui.cli.base import EXIT_OK, console, ensure_engine
from tui.models import datasets_view as dv

F = TypeVar("F", bound=Callable[..., Any])


def engine_option(f: F) -> F:
    """--engine (queue it and start an engine when none serves the store) and --queue (only queue it),
    as one parameter `as_job`: "engine", "queue" or None (prepare here, in the foreground)."""
    f = click.option("--queue", "as_job", flag_value="queue", help="queue it as an engine job; start no engine")(f)
    return click.option(
        "--engine",
        "as_job",
        flag_value="engine",
        default=None,
        help="prepare it as an engine job (its progress in the runs table and `gpt-tui ls`) instead of here",
    )(f)


def queue_prepare(s: st.Store, cfg: cfgmod.RunConfig, start_engine: bool = True) -> int:
    """Queue the preparation of `cfg`'s dataset and start an engine for it when none serves the store."""
    s.ensure()
    run_id = dv.submit_prepare(s, cfg, source="cli prepare")
    console.print(
        f"queued [bold]{run_id}[/]: preparing {escape(cfg.dataset)} with tokenizer {escape(cfg.tokenizer)}; "
        f"`gpt-tui ls` shows its progress, `gpt-tui stop {run_id}` stops it between shards"
    )
    if start_engine:
        ensure_engine(s)
    return EXIT_OK
