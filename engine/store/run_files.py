"""What is wrong with a run's files, told from the outside: its config, its checkpoints, the rest. Light."""

from __future__ import annotations

import os
import tomllib
import zipfile
from typing import Any

from engine.core.config import first_line
from engine.store import runs as st
from engine.store.files import STATE_CAP, check_regular, open_regular, read_regular

CHECKPOINTS = ("last.pt", "best.pt")  # engine.checkpoint's LAST and BEST (that module imports torch)
OTHER_FILES = ("metrics.toml", "worker.log", "control.toml", "note.toml")  # a row reads none of them


def read_config(store: st.Store, run_id: str) -> dict[str, Any]:
    return read_config_or_problem(store, run_id)[0]


def read_config_or_problem(store: st.Store, run_id: str) -> tuple[dict[str, Any], str]:
    """The run's config.toml as a mapping, and what is wrong with it ("" when nothing)."""
    path = store.config_path(run_id)
    try:
        return tomllib.loads(read_regular(path, STATE_CAP).decode("utf-8")), ""
    except FileNotFoundError:
        return {}, "config.toml is missing; put the run's hyperparameters back in it, or delete the run"
    except st.StoreError as e:  # a FIFO, a device, a directory, a huge file, no permission
        return {}, str(e).replace(str(path), "config.toml")
    except (ValueError, RecursionError) as e:  # bad TOML or UTF-8, a huge int, deep nesting
        return {}, (
            f"config.toml is not valid TOML ({first_line(e)}); fix it by hand (`gpt-tui config` "
            "prints a valid one), or delete the run"
        )


def damaged_checkpoint(store: st.Store, run_id: str) -> str:
    """What is wrong with the run's checkpoints ("" when nothing). A checkpoint is a zip archive whose
    directory sits at its end, so one cut short is seen from its last bytes, without torch."""
    for name in CHECKPOINTS:
        path = store.ckpt_dir(run_id) / name
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            continue
        except st.StoreError as e:
            return str(e).replace(str(path), f"ckpt/{name}")
        with os.fdopen(fd, "rb") as f:
            whole = zipfile.is_zipfile(f)
        if not whole:
            return (
                f"ckpt/{name} is cut short or damaged and cannot be loaded (a resume falls back to the "
                "other checkpoint or starts over); delete it to clear this"
            )
    return ""


def misplaced_file(store: st.Store, run_id: str) -> str:
    """The first of the run's OTHER_FILES that is no regular file ("" when none): a FIFO, a device or a
    directory where the file belongs, which its next reader would refuse. A stat each, nothing opened."""
    for name in OTHER_FILES:
        try:
            check_regular(name, os.stat(store.run_dir(run_id) / name))
        except st.StoreError as e:
            return str(e)
        except OSError:  # none yet, or not reachable: the readers say so when they get there
            continue
    return ""
