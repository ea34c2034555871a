"""What the monitor reads of one run: new metrics records, new worker.log lines, a new status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.store import runs as st
from engine.store.tail import TextTail
from tui.watcher import Source, settling


@dataclass
class RunUpdate:
    """One read's news; `reset`: metrics.toml was replaced, so what came before it is void.
    `problems`: files that cannot be read (a FIFO, a file too large), each said once."""

    reset: bool = False
    records: list[st.MetricsRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    status: st.Status | None = None
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.reset or self.records or self.lines or self.status is not None or self.problems)


class RunFeed(Source[RunUpdate]):
    """The monitor's Source: each read costs only the bytes appended since the last one."""

    def __init__(self, store: st.Store, run_id: str) -> None:
        self.status_path = str(store.status_path(run_id))
        self.metrics_path = str(store.metrics_path(run_id))
        self.log_path = str(store.worker_log(run_id))
        self.metrics = st.LogTail(self.metrics_path)
        self.log = TextTail(self.log_path)
        self._said: set[str] = set()

    def paths(self) -> list[str]:
        return [self.status_path, self.metrics_path, self.log_path]

    def read_changed(self, changed: set[str]) -> RunUpdate | None:
        update = RunUpdate()
        # Each file is read on its own: one that cannot be read is reported, and the others are shown.
        if self.metrics_path in changed:
            try:
                update.records = st.metrics_records(self.metrics.poll(), self.metrics_path)
                update.reset = self.metrics.reset
            except st.StoreError as err:
                self._problem(update, err)
        self.again = frozenset({self.metrics_path} if settling(self.metrics) else ())
        if self.log_path in changed:
            try:
                update.lines = self.log.poll()
            except st.StoreError as err:
                self._problem(update, err)
        if self.status_path in changed:
            try:
                update.status = st.Status.from_toml(st.read_toml(Path(self.status_path)), self.status_path)
            except st.StoreError:
                pass  # gone, or not TOML: it is replaced whole, so the next version is a new stamp
        return update or None

    def _problem(self, update: RunUpdate, err: st.StoreError) -> None:
        if str(err) not in self._said:
            self._said.add(str(err))
            update.problems.append(str(err))
