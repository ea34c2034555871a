"""What a person types, found in a run store: the store's folder (--runs), and a run by its name, its
id or the start of its id. One place, so that every command and the app's palette read it alike."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from engine.core.errors import GptTuiError
from engine.core.text import printable
from engine.store import runs as st
from engine.store.ids import run_id_problem

# The kernel's views of the system: folders there hold no files a program may make.
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"))
LISTED = 8  # candidates an ambiguous name lists


class StorePlaceError(GptTuiError):
    """--runs names a place that cannot hold a run store (or, for a command that reads one, holds none)."""


class RunNotFound(GptTuiError):
    """No run, or more than one, answers to what was typed; the message lists what does."""


# -- the store's folder ------------------------------------------------------------------


def store_place_problem(root: Path, must_exist: bool = False) -> str | None:
    """Why `root` cannot be a run store, or None. A store that does not exist yet is fine where its
    folder does (a command that writes makes it), unless `must_exist` (a command that only reads)."""
    shown = printable(str(root))
    try:
        real = root.expanduser().resolve()
    except (OSError, RuntimeError) as e:  # a loop of symbolic links
        return f"--runs {shown} cannot be followed ({e}); pick another --runs"
    for virtual in VIRTUAL_ROOTS:
        if real == virtual or virtual in real.parents:
            return (
                f"--runs {shown} is inside {virtual}, the kernel's view of the system, where no files can be "
                "made; pick a folder of your own, e.g. --runs ./runs"
            )
    kind = _kind(root)
    if kind == "dir":
        return None
    if kind == "file":
        return f"--runs {shown} is a file, not a folder; give the folder of a run store (or a new folder's name)"
    if kind == "denied":
        return f"cannot look into {printable(str(root.parent))}: permission denied; pick another --runs"
    path = root.expanduser().absolute()
    for folder in path.parents:  # the store is missing: is its folder there to make it in?
        kind = _kind(folder)
        if kind == "file":
            return (
                f"--runs {shown} cannot be made: {printable(str(folder))} is a file, not a folder; pick another --runs"
            )
        if kind == "denied":
            return f"cannot look into {printable(str(folder.parent))}: permission denied; pick another --runs"
        if kind == "dir":
            break
    if must_exist:
        return (
            f"no run store at {shown}: the folder does not exist (`gpt-tui run` or the app makes it); "
            "check --runs or $GPT_TUI_RUNS"
        )
    if _kind(path.parent) != "dir":
        parent = printable(str(path.parent))
        return (
            f"--runs {shown} cannot be made: the folder {parent} does not exist; "
            f"create it first (mkdir -p {parent}) or pick another --runs"
        )
    return None


def _kind(path: Path) -> str:
    """ "dir", "file" (or a FIFO, a device: anything but a folder), "missing" (or a file is on its
    way) or "denied" (a folder above it may not be looked into)."""
    try:
        info = os.stat(path.expanduser())
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as e:
        return "denied" if e.errno in (errno.EACCES, errno.EPERM) else "missing"
    return "dir" if stat.S_ISDIR(info.st_mode) else "file"


def checked_store(root: Path, must_exist: bool = False) -> st.Store:
    """The store at `root`; StorePlaceError when the place cannot hold one."""
    problem = store_place_problem(root, must_exist)
    if problem is not None:
        raise StorePlaceError(problem)
    return st.Store(root)


# -- a run by what a person calls it -----------------------------------------------------


class RunRef(NamedTuple):
    run_id: str
    name: str
    state: str


def known_runs(store: st.Store) -> list[RunRef]:
    """Every run with its name and state, oldest first (a run whose status cannot be read has none)."""
    refs = []
    for run_id, status in store.statuses().items():
        if isinstance(status, st.Status):
            refs.append(RunRef(run_id, status.name, str(status.state)))
        else:
            refs.append(RunRef(run_id, "", st.BROKEN))
    return refs


def matching(runs: list[RunRef], text: str) -> list[RunRef]:
    """The runs `text` names: the run with that id; else those with that name; else those whose id
    starts with it. More than one is an ambiguity for the caller to show."""
    exact = [r for r in runs if r.run_id == text]
    if exact:
        return exact
    named = [r for r in runs if r.name and r.name == text]
    if named:
        return named
    return [r for r in runs if text and r.run_id.startswith(text)]


def find_run(store: st.Store, text: str) -> str:
    """The id of the one run `text` names (see `matching`); RunNotFound lists the candidates, or
    says why nothing matched."""
    if st.is_valid_run_id(text) and store.run_dir(text).is_dir():
        return text  # the common case, without reading every status
    found = matching(known_runs(store), text)
    if len(found) == 1:
        return found[0].run_id
    shown = printable(repr(text))
    if found:
        listed = "; ".join(_describe(r) for r in found[:LISTED])
        more = f"; and {len(found) - LISTED} more" if len(found) > LISTED else ""
        raise RunNotFound(f"{shown} matches {len(found)} runs: {listed}{more}; give the full id or more of its start")
    why = "" if st.is_valid_run_id(text) else f" (and as a run id it {run_id_problem(text)})"
    raise RunNotFound(
        f"no run {shown} in {printable(str(store.root))}: no run has that id, name or id start{why}; "
        "`gpt-tui ls` lists the runs"
    )


def _describe(ref: RunRef) -> str:
    return f"{ref.run_id} ({ref.name or 'no name'}, {ref.state})"
