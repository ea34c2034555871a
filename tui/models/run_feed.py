"""What the monitor reads of one run: new metrics records, new worker.log lines, a new status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.store import runs as st
from engine.store.records import LrRecord, lr_records
from engine.store.tail import TextTail
from tui.models.lineage import fork_step, parent_records
from tui.watcher import Source, settling


@dataclass
class RunUpdate:
    """One read's news; `reset`: metrics.toml was replaced, so what came before it is void.
    `problems`: files that cannot be read (a FIFO, a file too large), each said once."""

    reset: bool = False
    records: list[st.MetricsRecord] = field(default_factory=list)
    lr: list[LrRecord] = field(default_factory=list)  # an LR range test's [[lr]] records
    lines: list[str] = field(default_factory=list)
    status: st.Status | None = None
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.reset or self.records or self.lr or self.lines or self.status is not None or self.problems)


class RunFeed(Source[RunUpdate]):
    """The monitor's Source: each read costs only the bytes appended since the last one."""

    def __init__(self, store: st.Store, run_id: str) -> None:
        self.status_path = str(store.status_path(run_id))
        self.metrics_path = str(store.metrics_path(run_id))
        self.log_path = str(store.worker_log(run_id))
        self.metrics = st.LogTail(self.metrics_path)
        self.log = TextTail(self.log_path)
        self._said: set[str] = set()
        self.store = store
        self.parent: list[st.MetricsRecord] = []  # a fork's parent's records up to the fork
        self.joined_at: int | None = None  # the fork's step they were read for

    def paths(self) -> list[str]:
        return [self.status_path, self.metrics_path, self.log_path]

    def read_changed(self, changed: set[str]) -> RunUpdate | None:
        update = RunUpdate()
        # Each file is read on its own: one that cannot be read is reported, and the others are shown.
        if self.metrics_path in changed:
            try:
                new = self.metrics.poll()
                update.records = st.metrics_records(new, self.metrics_path)
                update.lr = lr_records(new, self.metrics_path)
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
        self._join_parent(update)
        return update or None

    def _join_parent(self, update: RunUpdate) -> None:
        """A fork's curves start with its parent's, read once its step is known (and again should the
        worker correct it); put first again whenever the fork's own log starts over."""
        step = fork_step(update.status) if update.status is not None else None
        if step is not None and step != self.joined_at:
            self.joined_at, self.parent = step, parent_records(self.store, update.status)
            if self.parent:  # the fork's own records were read already: again, after its parent's
                self.metrics = st.LogTail(self.metrics_path)
                try:
                    own = st.metrics_records(self.metrics.poll(), self.metrics_path)
                except st.StoreError:
                    own = []  # reported by the read above
                update.reset, update.records = True, [*self.parent, *own]
                return
        if update.reset and self.parent:
            update.records = [*self.parent, *update.records]

    def _problem(self, update: RunUpdate, err: st.StoreError) -> None:
        if str(err) not in self._said:
            self._said.add(str(err))
            update.problems.append(str(err))
