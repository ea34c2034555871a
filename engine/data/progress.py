"""How far a preparation is: the report `prepare` sends its callback, and the terminal's progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class PrepareProgress:
    """One report: source bytes read (of the total, when known), tokens and documents so far (a
    resumed preparation counts what its earlier attempts did), seconds of this attempt, shards done."""

    source_bytes_done: int
    source_bytes_total: int | None
    tokens: int
    documents: int
    seconds: float
    shards: int


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[PrepareProgress], None]]:
    """A rich bar with MB/s, tokens/s and the time left; rates count this attempt's work alone."""
    if not enabled:
        yield lambda p: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rates]}"),
        TimeRemainingColumn(),
    )
    first: list[PrepareProgress] = []
    with Progress(*columns) as bar:
        task = bar.add_task(f"tokenizing {label}", total=None, rates="")

        def show(p: PrepareProgress) -> None:
            if not first:
                first.append(p)
            start = first[0]
            seconds = max(p.seconds - start.seconds, 1e-9)
            mb_s = (p.source_bytes_done - start.source_bytes_done) / seconds / 1e6
            tok_s = (p.tokens - start.tokens) / seconds
            rates = f"{mb_s:6.1f} MB/s {tok_s / 1e6:6.2f} M tok/s {p.tokens:,} tokens {p.shards} shard(s)"
            bar.update(task, total=p.source_bytes_total, completed=p.source_bytes_done, rates=rates)

        yield show
