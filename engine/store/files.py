"""Store files written atomically (temp file, fsync, rename) and read as untrusted TOML."""

from __future__ import annotations

import os
import secrets
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from engine.core import regular
from engine.core.errors import GptTuiError

FILE_MODE = 0o644
DIR_MODE = 0o755


class StoreError(GptTuiError):
    """A run-store file or name that cannot be used; the message says which and what to do."""


def now_iso() -> str:
    """The current time as ISO-8601 UTC, to the millisecond: 2024-05-01T12:00:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path: Path, text: str | bytes, durable: bool = True) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new, never half.
    durable=False skips the fsyncs: still atomic, but a power cut may bring back the old file
    (fine for a progress update the next one replaces within a second)."""
    path = Path(path)
    try:
        temp = write_temp_file(path.parent, f".tmp-{path.name}-", text, durable)
    except OSError as err:
        _name_the_file(err, path)
        raise
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_toml(path: Path, data: dict[str, Any], durable: bool = True) -> None:
    """Atomically replace `path` with `data` as TOML."""
    write_atomic(path, tomli_w.dumps(data), durable)


STATE_CAP, TOML_CAP, LOG_CAP = regular.STATE_CAP, regular.TOML_CAP, regular.LOG_CAP


def open_regular(path: str | os.PathLike[str]) -> int:
    """regular.open_regular, refusing with a StoreError: a descriptor of the regular file at `path`."""
    return regular.open_regular(path, StoreError)


def check_regular(path: str | os.PathLike[str], info: os.stat_result) -> None:
    regular.check_regular(path, info, StoreError)


def check_size(path: str | os.PathLike[str], size: int, cap: int) -> None:
    regular.check_size(path, size, cap, StoreError)


def read_regular(path: str | os.PathLike[str], cap: int = TOML_CAP) -> bytes:
    """The bytes of the regular file at `path`, at most `cap` of them, else a StoreError naming it."""
    return regular.read_regular(path, cap, StoreError)


def read_toml(path: str | os.PathLike[str], cap: int = TOML_CAP) -> dict[str, Any]:
    """The TOML file at `path`, or a StoreError that names it and says what to do. Only a regular
    file of at most `cap` bytes is read (read_regular)."""
    path = Path(path)
    try:
        return tomllib.loads(read_regular(path, cap).decode("utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path} does not exist; check the run id and the store root") from None
    except (ValueError, RecursionError) as err:  # bad TOML or UTF-8, a huge int, deep nesting
        raise StoreError(f"{path} is not valid TOML ({_first_line(err)}); fix or delete the file") from None


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


def write_temp_file(directory: Path, prefix: str, text: str | bytes, durable: bool = True) -> Path:
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


def fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable: without it a power cut can bring back the old file.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """mkdir -p, creating each missing directory with DIR_MODE (so never world-writable)."""
    if path.is_dir():
        return
    if path.parent != path:
        make_dirs(path.parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise


def identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The (device, inode) of `path`, None when it is gone: the same name holding another folder
    (deleted and made again, moved, replaced) has another identity."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
