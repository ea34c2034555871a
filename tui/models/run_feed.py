"""What the monitor reads of one run: new metrics records, new worker.log lines, a new status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.store import runs as st
from engine.store.tail import TextTail
from tui.watcher import Source, settling


@dataclass
class RunUpdate:
    """One read's news; `reset`: metrics.toml was replaced, so what came before it is void."""

    reset: bool = False
    records: list[st.Record] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    status: st.Status | None = None

    def __bool__(self) -> bool:
        return bool(self.reset or self.records or self.lines or self.status is not None)


class RunFeed(Source[RunUpdate]):
    """The monitor's Source: each read costs only the bytes appended since the last one."""

    def __init__(self, store: st.Store, run_id: str) -> None:
        self.status_path = str(store.status_path(run_id))
        self.metrics_path = str(store.metrics_path(run_id))
        self.log_path = str(store.worker_log(run_id))
        self.metrics = st.LogTail(self.metrics_path)
        self.log = TextTail(self.log_path)

    def paths(self) -> list[str]:
        return [self.status_path, self.metrics_path, self.log_path]

    def read_changed(self, changed: set[str]) -> RunUpdate | None:
        update = RunUpdate()
        if self.metrics_path in changed:
            update.records = self.metrics.poll()
            update.reset = self.metrics.reset
        self.again = frozenset({self.metrics_path} if settling(self.metrics) else ())
        if self.log_path in changed:
            update.lines = self.log.poll()
        if self.status_path in changed:
            try:
                update.status = st.Status.from_toml(st.read_toml(Path(self.status_path)), self.status_path)
            except st.StoreError:
                pass  # gone, or not TOML: it is replaced whole, so the next version is a new stamp
        return update or None
