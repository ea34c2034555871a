"""One preparer per dataset: an flock on datasets/.lock-<name>, so that two engines or trials wait for
each other and the second reuses what the first prepared, rather than preparing it twice.

The holder deletes the lock file before letting go; a waiter that then gets the lock on the deleted
file sees that the path no longer names it and locks the path afresh. A killed holder's lock is
released by the kernel, and its file stays behind for the next preparer to lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(datasets_dir: Path, name: str) -> Path:
    return datasets_dir / f".lock-{name}"


@contextmanager
def dataset_lock(datasets_dir: Path, name: str, blocking: bool = True) -> Iterator[bool]:
    """Holds the lock of `name` while the block runs; yields False (not held) when `blocking` is off
    and another process has it."""
    path = lock_path(datasets_dir, name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield True
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
