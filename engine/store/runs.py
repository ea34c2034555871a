"""The run store on disk: a run's files and typed status, over the queue and the results ledger.
The names the rest of the code uses as `st.X` are gathered here."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.store import schema  # noqa: F401 - st.schema.STATUS_FORMAT
from engine.store.files import (
    DIR_MODE,
    FILE_MODE,
    StoreError,
    make_dirs,
    never_world_writable,
    now_iso,
    read_toml,
    write_atomic,
    write_toml,
)
from engine.store.ids import (
    MAX_RUN_ID,
    RESERVED_NAMES,
    RUN_ID_EXAMPLE,
    check_run_id,
    is_valid_run_id,
    new_attempt_id,
    new_run_id,
    resolve_root,
)
from engine.store.logfile import (
    AppendLog,
    LogRead,
    LogTail,
    Record,
    append_record,
    format_record,
    keep_rejected,
    read_log,
    read_records,
    rejected_path,
)
from engine.store.queue import Queue, QueueEntry
from engine.store.records import (
    EvalRecord,
    MetricsRecord,
    ResultRow,
    TrainRecord,
    evals,
    metrics_records,
    parse,
)
from engine.store.schema import (
    ACTIVE,
    BROKEN,
    ENDED,
    RESUMABLE,
    SETTLED,
    EngineRecord,
    RunState,
    SchemaError,
    Status,
)

__all__ = [
    "ACTIVE",
    "BROKEN",
    "DIR_MODE",
    "ENDED",
    "FILE_MODE",
    "MAX_RUN_ID",
    "RESERVED_NAMES",
    "RESUMABLE",
    "RUN_ID_EXAMPLE",
    "SETTLED",
    "AppendLog",
    "EngineRecord",
    "EvalRecord",
    "MetricsRecord",
    "ResultRow",
    "TrainRecord",
    "LogRead",
    "LogTail",
    "QueueEntry",
    "Record",
    "RunState",
    "SchemaError",
    "Status",
    "Store",
    "StoreError",
    "append_record",
    "append_result",
    "evals",
    "metrics_records",
    "parse",
    "check_run_id",
    "format_record",
    "is_valid_run_id",
    "keep_rejected",
    "make_dirs",
    "never_world_writable",
    "new_attempt_id",
    "new_run_id",
    "now_iso",
    "read_log",
    "read_records",
    "read_results",
    "read_toml",
    "rejected_path",
    "resolve_root",
    "write_atomic",
    "write_toml",
]


class Store(Queue):
    """One run store directory. Every method is safe to call from many processes at once,
    except where its docstring says otherwise."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.queue_dir = self.root / "queue"
        self.claimed_dir = self.queue_dir / "claimed"
        self.bad_dir = self.queue_dir / "bad"
        self.sweeps_dir = self.root / "sweeps"
        self.datasets_dir = self.root / "datasets"
        self.results_path = self.root / "results.toml"

    def ensure(self) -> None:
        for directory in (self.queue_dir, self.claimed_dir, self.sweeps_dir, self.datasets_dir):
            make_dirs(directory)

    # paths
    def run_dir(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def real_run_dir(self, run_id: str) -> Path:
        """The run's folder, refused (StoreError) when it is a symbolic link: a run folder is a real
        folder of the store, and nothing is read or written through a link that may lead out of it."""
        path = self.run_dir(run_id)
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise StoreError(
                f"{path} is a symbolic link (to {target!r}), not a folder of the store; nothing is read or written "
                f"through it: `gpt-tui delete {run_id} --yes` removes the link and leaves its target alone"
            )
        return path

    def config_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "config.toml"

    def status_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "status.toml"

    def metrics_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "metrics.toml"

    def control_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "control.toml"

    def ckpt_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "ckpt"

    def worker_log(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "worker.log"

    # runs
    def create_run(self, config_text: str, name: str | None, meta: dict[str, Any]) -> str:
        """Reserve a new run directory (mkdir is the lock), write its config and status."""
        self.ensure()
        for _ in range(1000):
            run_id = new_run_id(name)
            try:
                os.mkdir(self.root / run_id, DIR_MODE)
                break
            except FileExistsError:
                continue
        else:
            raise StoreError(f"could not reserve a new run id in {self.root}; is the clock stuck?")
        write_atomic(self.config_path(run_id), config_text)
        status = Status(RunState.QUEUED, name=name or "", created=now_iso())
        self.write_status(run_id, status.changed(**{k: v for k, v in meta.items() if v is not None}))
        return run_id

    def status(self, run_id: str) -> Status:
        """The run's typed status; StoreError (SchemaError for a field that does not fit) names the file."""
        path = self.real_run_dir(run_id) / "status.toml"
        return Status.from_toml(read_toml(path), source=str(path))

    def write_status(self, run_id: str, status: Status, durable: bool = True) -> None:
        write_toml(self.real_run_dir(run_id) / "status.toml", status.to_toml(), durable)

    @contextmanager
    def status_lock(self, run_id: str) -> Iterator[None]:
        """Hold the run's status lock (an flock on .status.lock, released if the holder dies):
        every read-check-write of status.toml happens under it, so none is lost to a race."""
        fd = os.open(self.real_run_dir(run_id) / ".status.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update_status(self, run_id: str, durable: bool = True, **changes: Any) -> Status:
        """Read, change and atomically rewrite status.toml under the status lock (Status.changed:
        a None value restores a field's default)."""
        status = self.update_status_if(run_id, lambda _: True, durable, **changes)
        assert status is not None
        return status

    def update_status_if(
        self, run_id: str, when: Callable[[Status], bool], durable: bool = True, **changes: Any
    ) -> Status | None:
        """Compare and set: apply `changes` only if `when(status)` holds for the status on disk,
        all under the status lock. Returns the new status, or None when it did not hold."""
        with self.status_lock(run_id):
            status = self.status(run_id)
            if not when(status):
                return None
            status = status.changed(**changes)
            self.write_status(run_id, status, durable)
            return status

    def queue_again(
        self, run_id: str, ticket: dict[str, Any], priority: int, when: Callable[[Status], bool], **changes: Any
    ) -> str | None:
        """Put a run back in the queue if `when(status)` holds: under the status lock, the status
        becomes `queued` with a new attempt id, and a ticket carrying that id is written. Returns
        the attempt id, or None when `when` did not hold and nothing was changed."""
        attempt_id = new_attempt_id()
        with self.status_lock(run_id):
            status = self.status(run_id)
            if not when(status):
                return None
            self.write_status(run_id, status.changed(**changes, state=RunState.QUEUED, attempt_id=attempt_id))
            self.enqueue(run_id, {**ticket, "attempt_id": attempt_id}, priority)
        return attempt_id

    def list_runs(self) -> list[str]:
        """Ids of every run directory, oldest first (ids sort by creation time)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return sorted(
            entry.name
            for entry in entries
            if is_valid_run_id(entry.name)
            and entry.is_dir()
            and (
                os.path.exists(os.path.join(entry.path, "status.toml"))
                or os.path.exists(os.path.join(entry.path, "config.toml"))
            )
        )

    def statuses(self) -> dict[str, Status | StoreError]:
        """Every run's typed status; a run whose status cannot be read maps to its StoreError."""
        result: dict[str, Status | StoreError] = {}
        for run_id in self.list_runs():
            try:
                result[run_id] = self.status(run_id)
            except StoreError as err:
                result[run_id] = err
        return result


def append_result(store: Store, row: ResultRow, make_store: bool = True) -> None:
    """Add one finished run's row to results.toml. A worker passes make_store=False: a store deleted
    under it is not made again (FileNotFoundError instead)."""
    if make_store:
        make_dirs(store.root)
    append_record(store.results_path, "run", row.to_toml())


def read_results(store: Store) -> list[ResultRow]:
    """Every row of results.toml that fits the schema, in file order; a row that does not is skipped."""
    source = str(store.results_path)
    rows = (parse(table, row, source) for table, row in read_records(store.results_path) if table == "run")
    return [row for row in rows if isinstance(row, ResultRow)]
