"""Reading a file that someone else may have put there: regular files only, never more than a cap.

The run store (engine.store.files) and the config loader both read through it, each raising its own
error; standard library only, so engine.core can use it."""

from __future__ import annotations

import os
import stat

from engine.core.errors import GptTuiError


class UnreadableFile(GptTuiError):
    """A file that is no regular file, is larger than its cap, or cannot be read; the message says which."""


# Size caps no real store file comes near, so that only a hostile or runaway file meets one; a
# file read whole is held in memory whole. A status, ticket (a config inline), heartbeat, control,
# note or config file is a few KiB: STATE_CAP is hundreds of times that. TOML_CAP, the default,
# also holds the largest TOML file gpt-tui writes, a sweep of 10,000 trials (~2 MiB). A [[train]]
# record is ~250 bytes, so a million logged steps fill ~250 MiB of metrics.toml; results.toml holds
# a ~1 KiB row per finished run: LOG_CAP is for those two, read whole or tailed.
STATE_CAP = 1 << 20
TOML_CAP = 16 << 20
LOG_CAP = 1 << 30
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_regular(path: str | os.PathLike[str], error: type[Exception] = UnreadableFile) -> int:
    """A read-only descriptor of the regular file at `path` (the caller closes it). A FIFO, device,
    socket or directory where a file belongs is refused with `error` naming it: it is stat'ed
    first and never opened (opening a device can act on it), and O_NONBLOCK keeps open() of a FIFO
    put there in the meantime from waiting for a writer, which would hang the reader for ever.
    FileNotFoundError passes through; any other OSError becomes `error` naming the file."""
    try:
        check_regular(path, os.stat(path), error)
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise error(f"{path} cannot be read ({err.strerror}); check its permissions") from None
    try:
        check_regular(path, os.fstat(fd), error)  # what was opened, if it changed since the stat
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_regular(path: str | os.PathLike[str], info: os.stat_result, error: type[Exception] = UnreadableFile) -> None:
    """`error` naming `path` when `info` (its stat) is not a regular file's."""
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is {_kind(info.st_mode)}, not a regular file; remove it")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "something else"


def check_size(path: str | os.PathLike[str], size: int, cap: int, error: type[Exception] = UnreadableFile) -> None:
    """`error` naming the file when `size` is over `cap`."""
    if size > cap:
        raise error(
            f"{path} is {size:,} bytes ({_size_text(size)}), more than the {_size_text(cap)} such a store file may be; "
            "gpt-tui never writes one that large: move it out of the store"
        )


def _size_text(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def read_regular(path: str | os.PathLike[str], cap: int = TOML_CAP, error: type[Exception] = UnreadableFile) -> bytes:
    """The bytes of the regular file at `path`, refused (`error` naming the file) when it is no
    regular file or holds more than `cap` bytes. FileNotFoundError passes through."""
    fd = open_regular(path, error)
    try:
        check_size(path, os.fstat(fd).st_size, cap, error)
        chunks, total = [], 0
        while chunk := os.read(fd, min(cap + 1 - total, 1 << 20)):
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:  # it grew after the fstat
                check_size(path, total, cap, error)
        return b"".join(chunks)
    except OSError as err:
        raise error(f"{path} cannot be read ({err.strerror}); check its permissions") from None
    finally:
        os.close(fd)
