"""A file the command could not write (a read-only store, another user's, a full disk) as one line
that names it and says what to do: a problem a person can fix, not a bug in gpt-tui."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path

from engine.core.errors import GptTuiError
from engine.core.text import printable

# What each errno means for a person, and whether it is about who may write (the store's owner can).
_REASONS = {
    errno.EACCES: ("permission denied", True),
    errno.EPERM: ("operation not permitted", True),
    errno.EROFS: ("the file system is read-only", False),
    errno.ENOSPC: ("no space left on the device", False),
    errno.EDQUOT: ("the disk quota is used up", False),
    errno.EFBIG: ("the file would be too large (a file size limit)", False),
}


class CannotWrite(GptTuiError):
    """A file or folder the command needed to write and could not; the message says which and what to do."""


def cannot_write(err: OSError, store_root: Path, fix: str = "") -> CannotWrite | None:
    """The person's version of `err`, or None when it is not one of theirs to fix (then it is a bug):
    an errno of access or space, about a file the error names."""
    reason = _REASONS.get(err.errno or 0)
    if reason is None or not err.filename or not isinstance(err.filename, (str, os.PathLike)):
        return None
    what, about_access = reason
    verb, where = _culprit(Path(os.fsdecode(err.filename)))
    if not fix:
        inside = _inside(where, store_root)
        if about_access:
            fix = (
                f"run as the store's owner{_owner(store_root)} or pick another --runs"
                if inside
                else "pick a place you can write to"
            )
        elif err.errno == errno.EROFS:
            fix = "pick another --runs" if inside else "pick a place on a writable file system"
        else:
            fix = "free some space" + (", or pick another --runs" if inside else "")
    return CannotWrite(f"cannot {verb} {printable(str(where))}: {what}; {fix}")


def _culprit(path: Path) -> tuple[str, Path]:
    """The file or folder a person can act on: creating, renaming or removing a file is its folder's
    doing; writing a file that exists, the file's. An unreadable one is named as such."""
    folder = path.parent if path.name else path
    try:
        if path.exists() and not os.access(path, os.R_OK):
            return "read", path
        if folder.is_dir() and not os.access(folder, os.W_OK):
            return "write", folder
        if path.exists() and not os.access(path, os.W_OK):
            return "write", path
    except OSError:
        pass
    return "write", folder


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def _owner(root: Path) -> str:
    try:
        return f" ({pwd.getpwuid(root.stat().st_uid).pw_name})"
    except (OSError, KeyError):
        return ""
