"""`gpt-tui report (SWEEP | RUN ...) [--out DIR]`: report.md and PNG figures of a sweep or of some runs.
matplotlib loads only when this command runs, never when the `gpt-tui` command line starts."""

from __future__ import annotations

from pathlib import Path

import rich_click as click
from rich.markup import escape

from engine.core.errors import GptTuiError
from engine.core.text import printable
from engine.reports import data as rd
from engine.store.runs import resolve_root
from tui.cli.base import EXIT_OK, console, existing_run, runs_dir, store
from tui.cli.oserrors import CannotWrite, cannot_write


@click.command(
    "report",
    help="report.md and PNG figures of a sweep (or of some runs): val loss curves by step and by tokens, "
    "final val PPL by each swept hyperparameter, how much each mattered, and the trial table",
)
@click.argument(
    "targets",
    nargs=-1,
    required=True,
    metavar="SWEEP | RUN ...",
    help="a sweep id, or one or more runs (a name, an id, or the start of an id)",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="the folder to write into (made if missing) [default: the store's reports/<sweep or run>]",
)
def report(targets: tuple[str, ...], out: Path | None) -> int:
    s = store()
    if len(targets) == 1 and rd.is_sweep(s, targets[0]):
        data = rd.sweep_report(s, targets[0])
    else:
        data = rd.runs_report(s, [_run(s, t, alone=len(targets) == 1) for t in targets])
    from engine.reports import write  # matplotlib, only now

    folder = out if out is not None else write.default_folder(s.root, data)
    if folder.exists() and not folder.is_dir():
        raise CannotWrite(f"cannot write the report into {folder}: it is a file, not a folder; give another --out")
    try:
        written = write.write_report(data, folder)
    except OSError as e:
        raise _cannot_write(e, folder) from None
    console.print(f"wrote {escape(str(written.report))} and {len(written.files) - 1} figure(s):")
    for path in written.files[1:]:
        console.print(f"  {escape(str(path))}")
    return EXIT_OK


def _run(s, target: str, alone: bool) -> str:
    """The run `target` names (its id, name or id start); when it is the only target, it was no sweep either."""
    try:
        return existing_run(s, target)
    except GptTuiError as e:
        if not alone:
            raise
        raise NotFound(f"no sweep {printable(repr(target))} (`gpt-tui sweep ls` lists them), and {e}") from None


def _cannot_write(e: OSError, folder: Path) -> CannotWrite:
    found = cannot_write(e, resolve_root(runs_dir()), fix="give another --out")
    if found is not None:
        return found
    why = e.strerror or type(e).__name__
    return CannotWrite(f"cannot write the report into {folder}: {why}; give another --out")


class NotFound(GptTuiError):
    """Neither a sweep nor a run goes by the name given."""
