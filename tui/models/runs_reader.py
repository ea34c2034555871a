"""Every run's row, read again only for the runs whose files changed; the runs screen's Source."""

from __future__ import annotations

import os

from engine.store import runs as st
from engine.store import table as trial
from tui.watcher import Source, stamp

Row = trial.Row
RUN_FILES = ("status.toml", "config.toml", "note.toml")  # what a row is made of


class RunsReader(Source[dict[str, Row]]):
    """`read()` gives every run's Row; a run is read again only when one of RUN_FILES changed,
    so a read of a quiet store costs a listing and a few stat calls per run."""

    def __init__(self, store: st.Store) -> None:
        self.store = store
        self.root = str(store.root)
        self._cache: dict[str, tuple[tuple, Row]] = {}
        self._paths: list[str] = [self.root]
        self._shown: dict[str, Row] | None = None

    def read(self) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for run_id in self.store.list_runs():
            run_dir = os.path.join(self.root, run_id)
            stamps = tuple(stamp(os.path.join(run_dir, name)) for name in RUN_FILES)
            cached = self._cache.get(run_id)
            if cached is not None and cached[0] == stamps:
                out[run_id] = cached[1]
                continue
            try:
                status: st.Status | st.StoreError = self.store.status(run_id)
            except st.StoreError as err:
                status = err
            row = trial.row_for(self.store, run_id, status)
            self._cache[run_id] = (stamps, row)
            out[run_id] = row
        for gone in self._cache.keys() - out.keys():
            del self._cache[gone]
        self._paths = [
            self.root,
            *self._unlisted_dirs(out),
            *(os.path.join(self.root, run_id, name) for run_id in out for name in RUN_FILES),
        ]
        return out

    def _unlisted_dirs(self, listed: dict[str, Row]) -> list[str]:
        # A run directory is listed once its config or status is in it, and those land after the
        # mkdir that changed the root: watch the directory itself until then.
        try:
            with os.scandir(self.root) as entries:
                return [e.path for e in entries if e.name not in listed and not e.name.startswith(".") and e.is_dir()]
        except OSError:
            return []

    # -- as the watcher's source -------------------------------------------------------
    def paths(self) -> list[str]:
        """The store's root (runs come and go), each run's RUN_FILES, and unlisted directories."""
        return self._paths

    def read_changed(self, changed: set[str]) -> dict[str, Row] | None:
        rows = self.read()
        if rows == self._shown:
            return None  # a heartbeat or a queue file changed the root, not a row
        self._shown = rows
        return rows
