"""The run store on disk: layout, run ids, atomic state files, the queue and the results ledger."""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import tomli_w

from engine.core.errors import GptTuiError
from engine.store.logfile import (
    AppendLog, LogRead, LogTail, Record, append_record, format_record, keep_rejected, read_log, read_records,
    rejected_path,
)

__all__ = [
    "AppendLog", "LogRead", "LogTail", "QueueEntry", "Record", "Store", "StoreError",
    "append_record", "append_result", "check_run_id", "format_record", "keep_rejected", "never_world_writable",
    "new_attempt_id", "new_run_id", "now_iso", "read_log", "read_records", "read_results", "read_toml",
    "rejected_path", "resolve_root", "write_atomic", "write_toml",
]

FILE_MODE = 0o644
DIR_MODE = 0o755
MAX_RUN_ID = 128
# Names the store uses for itself, which a run directory must never shadow.
RESERVED_NAMES = frozenset({"queue", "sweeps", "datasets", "results.toml", "README.md"})
RUN_ID_EXAMPLE = "20240501-120000-123-my-run-1a2b"

_RUN_ID = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9._-]{{0,{MAX_RUN_ID - 1}}}")
_TICKET_NAME = re.compile(r"(\d{3})-(\d{20})-(.+)\.toml")


class StoreError(GptTuiError):
    """A run-store file or name that cannot be used; the message says which and what to do."""


def now_iso() -> str:
    """The current time as ISO-8601 UTC, to the millisecond: 2024-05-01T12:00:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- atomic files ----------------------------------------------------------------------------

def write_atomic(path: Path, text: str | bytes, durable: bool = True) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new, never half.
    durable=False skips the fsyncs: still atomic, but a power cut may bring back the old file
    (fine for a progress update the next one replaces within a second)."""
    path = Path(path)
    try:
        temp = _write_temp_file(path.parent, f".tmp-{path.name}-", text, durable)
    except OSError as err:
        _name_the_file(err, path)
        raise
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_toml(path: Path, data: dict[str, Any], durable: bool = True) -> None:
    """Atomically replace `path` with `data` as TOML."""
    write_atomic(path, tomli_w.dumps(data), durable)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at `path`, or a StoreError that names it and says what to do."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path} does not exist; check the run id and the store root") from None
    except (ValueError, RecursionError) as err:  # bad TOML or UTF-8, a huge int, deep nesting
        raise StoreError(f"{path} is not valid TOML ({_first_line(err)}); fix or delete the file") from None
    except OSError as err:
        raise StoreError(f"{path} cannot be read ({err.strerror}); check its permissions") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _name_the_file(err: OSError, path: Path) -> None:
    """Give `err` the file it concerns: a failed write() (a full disk) names none by itself."""
    if err.filename is None:
        err.filename = str(path)


def never_world_writable() -> None:
    """Mask the world-write bit for every file and folder this process creates from now on, so
    that a permissive umask (000) never makes the store writable by every user. The entry points
    of the engine, its workers and the CLI call it; group bits stay as the user's umask says."""
    os.umask(os.umask(0) | 0o002)


def _write_temp_file(directory: Path, prefix: str, text: str | bytes, durable: bool = True) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    while True:
        temp = directory / f"{prefix}{secrets.token_hex(4)}"
        try:
            fd = os.open(temp, flags, FILE_MODE)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            if durable:
                os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable: without it a power cut can bring back the old file.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """mkdir -p, creating each missing directory with DIR_MODE (so never world-writable)."""
    if path.is_dir():
        return
    if path.parent != path:
        _make_dirs(path.parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise


# --- run ids ---------------------------------------------------------------------------------

def new_run_id(name: str | None = None) -> str:
    """A fresh id that sorts by creation time: 20240501-120000-123-<slug>-<4 hex>."""
    now = datetime.now(timezone.utc)
    stamp = f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:24].rstrip("-")
    suffix = secrets.token_hex(2)  # two processes in the same millisecond still differ
    return f"{stamp}-{slug}-{suffix}" if slug else f"{stamp}-{suffix}"


def new_attempt_id() -> str:
    """A fresh token for one trip of a run through the queue. The status and the ticket carry it,
    the engine hands it to the worker it starts, and every later change to the run's status checks
    it: a worker or an exit that belongs to an earlier trip changes nothing."""
    return secrets.token_hex(6)


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is safe to use as a directory name in the store, else raise."""
    if _is_valid_run_id(run_id):
        return run_id
    raise StoreError(
        f"run id {run_id!r} {_run_id_problem(run_id)}; a run id looks like {RUN_ID_EXAMPLE!r}: "
        f"letters, digits, '.', '_' and '-', at most {MAX_RUN_ID} characters")


def _is_valid_run_id(run_id: object) -> bool:
    return (isinstance(run_id, str) and _RUN_ID.fullmatch(run_id) is not None
            and ".." not in run_id and run_id not in RESERVED_NAMES
            and not run_id.startswith("engine-"))


def _run_id_problem(run_id: object) -> str:
    if not isinstance(run_id, str):
        return "is not a string"
    if not run_id:
        return "is empty"
    if len(run_id) > MAX_RUN_ID:
        return f"is {len(run_id)} characters long"
    if "/" in run_id or "\\" in run_id:
        return "contains a path separator"
    if ".." in run_id:
        return "contains '..'"
    if run_id.startswith((".", "-")):
        return f"starts with {run_id[0]!r}"
    if any(ord(c) < 32 or ord(c) == 127 for c in run_id):
        return "contains a control character"
    if any(c.isspace() for c in run_id):
        return "contains whitespace"
    if run_id in RESERVED_NAMES or run_id.startswith("engine-"):
        return "is a name the store uses for its own files"
    bad = next((c for c in run_id if not (c.isascii() and (c.isalnum() or c in "._-"))), "?")
    return f"contains {bad!r}"


def resolve_root(option: str | None) -> Path:
    """The store root: the command-line option, else $GPT_TUI_RUNS, else ./runs."""
    return Path(option or os.environ.get("GPT_TUI_RUNS") or "runs").expanduser()


# --- the store -------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueEntry:
    """A ticket in queue/ (or queue/claimed/); everything here comes from its file name."""

    path: Path
    run_id: str
    priority: int
    enqueued_ns: int


class Store:
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
            _make_dirs(directory)

    # paths
    def run_dir(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

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
        status: dict[str, Any] = {"state": "queued", "name": name or "", "created": now_iso()}
        status.update((k, v) for k, v in meta.items() if k not in status and v is not None)
        self.write_status(run_id, status)
        return run_id

    def read_status(self, run_id: str) -> dict[str, Any]:
        return read_toml(self.status_path(run_id))

    def write_status(self, run_id: str, data: dict[str, Any], durable: bool = True) -> None:
        write_toml(self.status_path(run_id), data, durable)

    @contextmanager
    def status_lock(self, run_id: str) -> Iterator[None]:
        """Hold the run's status lock (an flock on .status.lock, released if the holder dies):
        every read-check-write of status.toml happens under it, so none is lost to a race."""
        fd = os.open(self.run_dir(run_id) / ".status.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update_status(self, run_id: str, durable: bool = True, **changes: Any) -> dict[str, Any]:
        """Read, change and atomically rewrite status.toml under the status lock; a None value
        removes that key."""
        status = self.update_status_if(run_id, lambda _: True, durable, **changes)
        assert status is not None
        return status

    def update_status_if(self, run_id: str, when: Callable[[dict[str, Any]], bool], durable: bool = True,
                         **changes: Any) -> dict[str, Any] | None:
        """Compare and set: apply `changes` only if `when(status)` holds for the status on disk,
        all under the status lock. Returns the new status, or None when it did not hold."""
        with self.status_lock(run_id):
            status = self.read_status(run_id)
            if not when(status):
                return None
            for key, value in changes.items():
                if value is None:
                    status.pop(key, None)
                else:
                    status[key] = value
            self.write_status(run_id, status, durable)
            return status

    def queue_again(self, run_id: str, ticket: dict[str, Any], priority: int,
                    when: Callable[[dict[str, Any]], bool], **changes: Any) -> str | None:
        """Put a run back in the queue if `when(status)` holds: under the status lock, the status
        becomes `queued` with a new attempt id, and a ticket carrying that id is written. Returns
        the attempt id, or None when `when` did not hold and nothing was changed."""
        attempt_id = new_attempt_id()
        with self.status_lock(run_id):
            status = self.read_status(run_id)
            if not when(status):
                return None
            status.update(state="queued", attempt_id=attempt_id)
            for key, value in changes.items():
                if value is None:
                    status.pop(key, None)
                else:
                    status[key] = value
            self.write_status(run_id, status)
            self.enqueue(run_id, {**ticket, "attempt_id": attempt_id}, priority)
        return attempt_id

    def list_runs(self) -> list[str]:
        """Ids of every run directory, oldest first (ids sort by creation time)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return sorted(
            entry.name for entry in entries
            if _is_valid_run_id(entry.name) and entry.is_dir()
            and (os.path.exists(os.path.join(entry.path, "status.toml"))
                 or os.path.exists(os.path.join(entry.path, "config.toml"))))

    def read_all_status(self) -> dict[str, dict[str, Any] | StoreError]:
        """Every run's status; a run whose status cannot be read maps to its StoreError."""
        result: dict[str, dict[str, Any] | StoreError] = {}
        for run_id in self.list_runs():
            try:
                result[run_id] = self.read_status(run_id)
            except StoreError as err:
                result[run_id] = err
        return result

    # the queue
    def enqueue(self, run_id: str, ticket: dict[str, Any], priority: int = 0) -> Path:
        """Put a ticket for `run_id` in queue/; higher priority runs first, then older first."""
        check_run_id(run_id)
        if type(priority) is not int or not -99 <= priority <= 99:
            raise StoreError(f"queue priority {priority!r} must be a whole number from -99 to 99")
        self.ensure()
        data = {**ticket, "run_id": run_id, "priority": priority, "enqueued": now_iso()}
        temp = _write_temp_file(self.queue_dir, ".tmp-ticket-", tomli_w.dumps(data))
        try:
            while True:
                path = self.queue_dir / _ticket_name(priority, time.time_ns(), run_id)
                try:
                    os.link(temp, path)  # unlike rename, never replaces an existing ticket
                    break
                except FileExistsError:
                    continue
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(self.queue_dir)
        return path

    def list_queue(self) -> list[QueueEntry]:
        """Queued tickets in the order they will be claimed; no file is opened."""
        return list(self._entries(self.queue_dir))

    def list_claimed(self) -> list[QueueEntry]:
        """Claimed tickets: runs an engine took and has not released (or died holding)."""
        return list(self._entries(self.claimed_dir))

    def malformed_queue_files(self) -> list[Path]:
        """Files in queue/ that are not tickets: junk, or temp files (stale or in flight)."""
        try:
            entries = list(os.scandir(self.queue_dir))
        except FileNotFoundError:
            return []
        return sorted(Path(entry.path) for entry in entries
                      if entry.is_file(follow_symlinks=False) and _parse_ticket(entry.path) is None)

    def claim_next(self, owner: str, skip: frozenset[str] | set[str] = frozenset()
                   ) -> tuple[QueueEntry, dict[str, Any]] | None:
        """Take the first queued ticket whose run is not in `skip`: one os.rename into claimed/,
        which exactly one of any number of racing claimers wins. Returns the entry (now in
        claimed/) and its ticket, with `claimed_by` and `claimed` added, or None when none is left."""
        self.ensure()
        for entry in self._entries(self.queue_dir):  # lazy: usually only the first is parsed
            if entry.run_id in skip:
                continue
            claimed = self.claimed_dir / entry.path.name
            try:
                os.rename(entry.path, claimed)
            except FileNotFoundError:
                continue  # another claimer won it (or it was cancelled)
            entry = replace(entry, path=claimed)
            try:
                ticket = read_toml(claimed)
            except StoreError as err:
                self._set_aside_and_fail(entry, str(err))
                continue
            if ticket.get("run_id") != entry.run_id:
                self._set_aside_and_fail(entry, f"{claimed} holds run_id {ticket.get('run_id')!r} but "
                                                f"its name says {entry.run_id!r}; fix or delete it")
                continue
            ticket.update(priority=entry.priority, claimed_by=owner, claimed=now_iso())
            write_toml(claimed, ticket)
            return entry, ticket
        return None

    def release_claim(self, entry: QueueEntry) -> None:
        entry.path.unlink(missing_ok=True)

    def requeue(self, run_id: str, ticket: dict[str, Any], priority: int = 0) -> Path:
        ticket = {k: v for k, v in ticket.items() if k not in ("claimed_by", "claimed")}
        return self.enqueue(run_id, ticket, priority)

    def set_priority(self, entry: QueueEntry, priority: int) -> QueueEntry | None:
        """Move a queued ticket to a new priority, keeping its age; None if it was claimed.
        The file name is the truth: the `priority` inside the ticket is rewritten on claim."""
        if type(priority) is not int or not -99 <= priority <= 99:
            raise StoreError(f"queue priority {priority!r} must be a whole number from -99 to 99")
        path = entry.path.with_name(_ticket_name(priority, entry.enqueued_ns, entry.run_id))
        try:
            os.rename(entry.path, path)
        except FileNotFoundError:
            return None
        return replace(entry, path=path, priority=priority)

    def cancel(self, entry: QueueEntry) -> bool:
        """Remove a ticket that is still queued; False if a claimer got it first."""
        try:
            entry.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _entries(self, directory: Path) -> Iterator[QueueEntry]:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        for name in names:
            entry = _parse_ticket(os.path.join(directory, name))
            if entry is not None:
                yield entry

    def _set_aside_and_fail(self, entry: QueueEntry, reason: str) -> None:
        """Set a broken ticket aside; its run, if it waits for that ticket, ends `failed` saying
        so (else it would read `queued` for ever with no ticket left to start it)."""
        self._set_aside(entry, reason)
        try:
            if self.run_dir(entry.run_id).is_dir():
                self.update_status_if(entry.run_id, lambda s: s.get("state") == "queued", state="failed",
                                      finished=now_iso(), reason=(
                    f"its queue ticket was unreadable and was set aside as queue/bad/{entry.path.name} "
                    f"(the .error file next to it says why); `gpt-tui resume {entry.run_id}` queues it again"))
        except StoreError:
            pass  # no run directory (a hand-written ticket) or no readable status: nothing to mark

    def _set_aside(self, entry: QueueEntry, reason: str) -> None:
        _make_dirs(self.bad_dir)
        bad = self.bad_dir / entry.path.name
        os.replace(entry.path, bad)
        write_atomic(bad.with_name(bad.name + ".error"),
                     f"{now_iso()}: this ticket was set aside, not run.\n{reason}\n")


def _ticket_name(priority: int, enqueued_ns: int, run_id: str) -> str:
    # Sorting names ascending gives higher priority first, then older first.
    return f"{100 - priority:03d}-{enqueued_ns:020d}-{run_id}.toml"


def _parse_ticket(path: str) -> QueueEntry | None:
    match = _TICKET_NAME.fullmatch(os.path.basename(path))
    if match is None or not _is_valid_run_id(match[3]) or not 1 <= int(match[1]) <= 199:
        return None
    return QueueEntry(Path(path), match[3], 100 - int(match[1]), int(match[2]))


# --- the results ledger ----------------------------------------------------------------------

def append_result(store: Store, row: dict[str, Any]) -> None:
    """Add one finished run's row to results.toml."""
    _make_dirs(store.root)
    append_record(store.results_path, "run", row)


def read_results(store: Store) -> list[dict[str, Any]]:
    return [row for table, row in read_records(store.results_path) if table == "run"]
