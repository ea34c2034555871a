"""Numbered shard files (train-00000.bin, ...) written so that an interrupted preparation resumes.

A split's tokens go to its open shard; once that holds `shard_tokens` or more, it is fsynced and the
next one opens. After any shard completes, the open ones are fsynced too and progress.toml records
every split's complete shards, how far its open one is, and where in the source the next unit
starts. A preparation killed at any moment restarts from that record: open shards are cut back to
the recorded length and anything past them is deleted, so it writes the same bytes as one never
interrupted.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

SHARD_ENV = "GPT_TUI_SHARD_TOKENS"  # smaller shards, for tests (and for whoever wants them)
DEFAULT_SHARD_TOKENS = 100_000_000  # 200 MB of uint16: few files, each a cheap memory map
PROGRESS = "progress.toml"


def shard_tokens() -> int:
    value = os.environ.get(SHARD_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_SHARD_TOKENS


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.bin"


class ShardStream:
    """One split's shards: the complete ones' token counts and the open one being appended to."""

    def __init__(self, directory: Path, split: str, dtype: np.dtype, limit: int, complete: list[int], open_count: int):
        self.dir, self.split, self.dtype, self.limit = directory, split, np.dtype(dtype), limit
        self.complete, self.open_count = list(complete), open_count
        self._file = None
        self._restore()

    def _restore(self) -> None:
        """Cut the open shard back to what progress.toml recorded; delete every shard after it."""
        index = len(self.complete)
        for path in self.dir.glob(f"{self.split}-*.bin"):
            number = path.stem.rpartition("-")[2]
            if not number.isdigit() or int(number) > index:
                path.unlink()
        path = self.dir / shard_name(self.split, index)
        if self.open_count or path.exists():
            self._file = open(path, "r+b" if path.exists() else "w+b")
            self._file.truncate(self.open_count * self.dtype.itemsize)
            self._file.seek(0, os.SEEK_END)

    def write(self, tokens: np.ndarray) -> bool:
        """Append tokens; True when that completed the open shard (the caller then records progress)."""
        if not len(tokens):
            return False
        if self._file is None:
            self._file = open(self.dir / shard_name(self.split, len(self.complete)), "w+b")
        self._file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.open_count += len(tokens)
        if self.open_count < self.limit:
            return False
        self.close_shard()
        return True

    def close_shard(self) -> None:
        if self._file is None:
            return
        self.sync()
        self._file.close()
        self._file = None
        if self.open_count:
            self.complete.append(self.open_count)
        self.open_count = 0

    def sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    @property
    def tokens(self) -> int:
        return sum(self.complete) + self.open_count

    def state(self) -> dict[str, Any]:
        return {"complete": self.complete, "open": self.open_count}


def read_progress(directory: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads((directory / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def write_progress(directory: Path, progress: dict[str, Any]) -> None:
    write_synced(directory / (PROGRESS + ".tmp"), tomli_w.dumps(progress).encode("utf-8"))
    os.replace(directory / (PROGRESS + ".tmp"), directory / PROGRESS)
    fsync_dir(directory)


def split_tail(directory: Path, counts: list[int], n_train: int, dtype: np.dtype) -> tuple[list[int], list[int]]:
    """Plain text's split: its first `n_train` tokens (in train shards) stay train, the rest becomes
    val-00000.bin, ... Each step can be done again: a kill part-way is finished by the next attempt."""
    itemsize = np.dtype(dtype).itemsize
    if not counts:
        return [], []
    starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    k = next(i for i in range(len(counts)) if starts[i + 1] > n_train)  # the shard holding the cut
    head = n_train - starts[k]
    train = counts[:k] + ([head] if head else [])
    val = ([counts[k] - head] if head else []) + counts[k + 1 :]
    moves = range(k + 1 if head else k, len(counts))
    if head:
        cut, first_val = directory / shard_name("train", k), directory / shard_name("val", 0)
        if not first_val.exists():  # written whole, then renamed: there means complete
            with open(cut, "rb") as f:
                f.seek(head * itemsize)
                tmp = first_val.with_suffix(".tmp")
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(f, out, 1 << 24)
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp, first_val)
        with open(cut, "r+b") as f:
            f.truncate(head * itemsize)
            os.fsync(f.fileno())
    for number, src in enumerate(moves, 1 if head else 0):
        if (directory / shard_name("train", src)).exists():
            os.replace(directory / shard_name("train", src), directory / shard_name("val", number))
    fsync_dir(directory)
    return train, val


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
