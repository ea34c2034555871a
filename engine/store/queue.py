"""The queue: one ticket file per queued run, named so that sorting the names gives the order in
which runs are claimed; claiming is one os.rename into queue/claimed/."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w

from engine.store.files import (
    STATE_CAP,
    StoreError,
    fsync_dir,
    make_dirs,
    now_iso,
    read_toml,
    write_atomic,
    write_temp_file,
    write_toml,
)
from engine.store.ids import check_run_id, is_valid_run_id
from engine.store.schema import RunState
from engine.store.ticket import Ticket

_TICKET_NAME = re.compile(r"(\d{3})-(\d{20})-(.+)\.toml")


@dataclass(frozen=True)
class QueueEntry:
    """A ticket in queue/ (or queue/claimed/); everything here comes from its file name."""

    path: Path
    run_id: str
    priority: int
    enqueued_ns: int


class Queue:
    """The Store's queue half. It uses the store's queue_dir, claimed_dir, bad_dir and status."""

    queue_dir: Path
    claimed_dir: Path
    bad_dir: Path
    ensure: Callable[[], None]
    run_dir: Callable[[str], Path]
    update_status_if: Callable[..., Any]

    def enqueue(self, run_id: str, ticket: dict[str, Any], priority: int = 0) -> Path:
        """Put a ticket for `run_id` in queue/; higher priority runs first, then older first."""
        check_run_id(run_id)
        if type(priority) is not int or not -99 <= priority <= 99:
            raise StoreError(f"queue priority {priority!r} must be a whole number from -99 to 99")
        self.ensure()
        data = {**ticket, "run_id": run_id, "priority": priority, "enqueued": now_iso()}
        temp = write_temp_file(self.queue_dir, ".tmp-ticket-", tomli_w.dumps(data))
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
        fsync_dir(self.queue_dir)
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
        return sorted(
            Path(entry.path)
            for entry in entries
            if entry.is_file(follow_symlinks=False) and _parse_ticket(entry.path) is None
        )

    def claim_next(self, owner: str, skip: frozenset[str] | set[str] = frozenset()) -> tuple[QueueEntry, Ticket] | None:
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
                # Read as untrusted: a FIFO or a device named like a ticket is refused, not waited on.
                ticket = Ticket.from_toml(read_toml(claimed, STATE_CAP), source=str(claimed))
            except StoreError as err:
                self._set_aside_and_fail(entry, str(err))
                continue
            if ticket.run_id != entry.run_id:
                self._set_aside_and_fail(
                    entry,
                    f"{claimed} holds run_id {ticket.run_id!r} but its name says {entry.run_id!r}; fix or delete it",
                )
                continue
            ticket = replace(ticket, priority=entry.priority, claimed_by=owner, claimed=now_iso())
            write_toml(claimed, ticket.to_toml())
            return entry, ticket
        return None

    def release_claim(self, entry: QueueEntry) -> None:
        entry.path.unlink(missing_ok=True)

    def requeue(self, run_id: str, ticket: Ticket | dict[str, Any], priority: int = 0) -> Path:
        """Queue a claimed ticket (or a ticket's fields) again, without its claim."""
        fields = ticket.to_toml() if isinstance(ticket, Ticket) else dict(ticket)
        for key in ("claimed_by", "claimed", "run_id", "priority", "enqueued"):
            fields.pop(key, None)
        return self.enqueue(run_id, fields, priority)

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
                self.update_status_if(
                    entry.run_id,
                    lambda s: s.state == RunState.QUEUED,
                    state=RunState.FAILED,
                    finished=now_iso(),
                    reason=(
                        f"its queue ticket was unreadable and was set aside as queue/bad/{entry.path.name} "
                        f"(the .error file next to it says why); `gpt-tui resume {entry.run_id}` queues it again"
                    ),
                )
        except StoreError:
            pass  # no run directory (a hand-written ticket) or no readable status: nothing to mark

    def _set_aside(self, entry: QueueEntry, reason: str) -> None:
        make_dirs(self.bad_dir)
        bad = self.bad_dir / entry.path.name
        os.replace(entry.path, bad)
        write_atomic(
            bad.with_name(bad.name + ".error"), f"{now_iso()}: this ticket was set aside, not run.\n{reason}\n"
        )


def _ticket_name(priority: int, enqueued_ns: int, run_id: str) -> str:
    # Sorting names ascending gives higher priority first, then older first.
    return f"{100 - priority:03d}-{enqueued_ns:020d}-{run_id}.toml"


def _parse_ticket(path: str) -> QueueEntry | None:
    match = _TICKET_NAME.fullmatch(os.path.basename(path))
    if match is None or not is_valid_run_id(match[3]) or not 1 <= int(match[1]) <= 199:
        return None
    return QueueEntry(Path(path), match[3], 100 - int(match[1]), int(match[2]))
