"""A run's checkpoint files told without torch: the step index kept beside them, the kept steps, and
putting one into another run as a hard link (or a copy)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from engine.store.files import STATE_CAP, StoreError, check_regular, fsync_dir, read_toml, write_toml

INDEX = "index.toml"  # name (last, best) -> step, and the kept steps: the CLI and the TUI cannot open a .pt
FORK = "fork.pt"  # in a fork's ckpt/: the checkpoint it starts from, its own once linked or copied
_KEPT = re.compile(r"step-(\d{1,18})\.pt")
_MAX_STEP = 2**62


def kept_name(step: int) -> str:
    return f"step-{step}.pt"


def kept_steps(ckpt_dir: Path) -> list[int]:
    """The steps of the kept checkpoints (step-<N>.pt) in `ckpt_dir`, ascending; [] when there is none."""
    try:
        names = os.listdir(ckpt_dir)
    except OSError:
        return []
    return sorted(int(m[1]) for name in names if (m := _KEPT.fullmatch(name)))


def read_index(ckpt_dir: Path) -> dict[str, int]:
    """{"last": step, "best": step} as far as ckpt/index.toml says. The index is a hint written after
    each save (the checkpoint itself holds the step): one missing, unreadable or holding a value of
    the wrong kind leaves that name out, never raises."""
    try:
        data = read_toml(ckpt_dir / INDEX, STATE_CAP)
    except (StoreError, OSError):
        return {}
    return {k: v for k in ("last", "best") if type(v := data.get(k)) is int and 0 <= v <= _MAX_STEP}


def step_of(ckpt_dir: Path, name: str) -> int | None:
    """The step checkpoint `name` (a file name under ckpt/) was saved at, None when nothing says."""
    if m := _KEPT.fullmatch(name):
        return int(m[1])
    return read_index(ckpt_dir).get(name.removesuffix(".pt"))


def write_index(ckpt_dir: Path, saved: Iterable[str], step: int) -> None:
    """Record that the checkpoints `saved` (file names) now hold `step`; written atomically after the
    files themselves, so a reader may find it one save behind, never ahead."""
    index: dict[str, object] = dict(read_index(ckpt_dir))
    index.update((name.removesuffix(".pt"), step) for name in saved)
    index["kept"] = kept_steps(ckpt_dir)
    write_toml(ckpt_dir / INDEX, index)


def open_checkpoint(path: Path) -> int:
    """A read-only descriptor of the checkpoint at `path`, a regular file reached by no symbolic
    link (StoreError naming it otherwise; FileNotFoundError when it is not there)."""
    check_regular(path, os.lstat(path))  # stat'ed first: opening a device can act on it
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise StoreError(f"{path} cannot be read ({e.strerror}); check its permissions") from None
    try:
        check_regular(path, os.fstat(fd))  # what was opened, if it changed since the lstat
    except BaseException:
        os.close(fd)
        raise
    return fd


def link_or_copy(src: Path, dst: Path) -> None:
    """Put the checkpoint `src` at `dst` (replacing it, atomically): a hard link where the file system
    allows one, else a copy. Either way `dst` is a file of its own name: deleting `src` or its run
    leaves it whole, and the writers never change a checkpoint in place (they replace it), so a
    link never sees a later save."""
    fd = open_checkpoint(src)
    try:
        tmp = dst.with_name(f".tmp-{dst.name}-{secrets.token_hex(4)}")
        try:
            if not _linked(src, tmp, os.fstat(fd)):
                _copy(fd, tmp)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(dst.parent)
    finally:
        os.close(fd)


def _linked(src: Path, tmp: Path, opened: os.stat_result) -> bool:
    """Hard-link `src` at `tmp`, keeping it only if it is the very file opened (not one put in its
    place since); False where no link can be made (another file system, a policy on hard links)."""
    try:
        os.link(src, tmp, follow_symlinks=False)
    except OSError:
        return False
    linked = os.lstat(tmp)
    if (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino):
        return True
    os.unlink(tmp)
    return False


def _copy(fd: int, tmp: Path) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "rb", closefd=False) as source, os.fdopen(out, "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
        target.flush()
        os.fsync(target.fileno())
