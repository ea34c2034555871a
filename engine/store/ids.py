"""Run ids: made to sort by creation time, checked before they ever name a directory."""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from engine.store.files import StoreError

MAX_RUN_ID = 128
# Names the store uses for itself, which a run directory must never shadow.
RESERVED_NAMES = frozenset({"queue", "sweeps", "datasets", "results.toml", "README.md"})
RUN_ID_EXAMPLE = "20240501-120000-123-my-run-1a2b"

_RUN_ID = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9._-]{{0,{MAX_RUN_ID - 1}}}")


def new_run_id(name: str | None = None) -> str:
    """A fresh id that sorts by creation time: 20240501-120000-123-<slug>-<4 hex>."""
    now = datetime.now(UTC)
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
    if is_valid_run_id(run_id):
        return run_id
    raise StoreError(
        f"run id {run_id!r} {run_id_problem(run_id)}; a run id looks like {RUN_ID_EXAMPLE!r}: "
        f"letters, digits, '.', '_' and '-', at most {MAX_RUN_ID} characters"
    )


def is_valid_run_id(run_id: object) -> bool:
    return (
        isinstance(run_id, str)
        and _RUN_ID.fullmatch(run_id) is not None
        and ".." not in run_id
        and run_id not in RESERVED_NAMES
        and not run_id.startswith("engine-")
    )


def run_id_problem(run_id: object) -> str:
    """What keeps `run_id` from being a run id, in words ("contains whitespace")."""
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
