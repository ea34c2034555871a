"""A prepared dataset folder: its meta.toml, its shards as token spaces, and the store's list of them.

meta.toml is untrusted like every store file: its types are checked and each shard file must be a
regular file of exactly the size recorded, else the folder is reported broken and prepared again.
"""

from __future__ import annotations

import os
import shutil
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.corpus import DataError
from engine.data.locks import dataset_lock
from engine.data.shards import shard_name
from engine.data.token_space import TokenSpace
from engine.data.tokenize import Tokenizer, get_tokenizer

FORMAT = 2  # 2: numbered shards; bump when the layout changes (older folders are prepared again)
SPLITS = ("train", "val")
MAX_META_BYTES = 16 << 20


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared dataset folder and its meta.toml; `problem` says why a listed folder is unusable."""

    dir: Path
    meta: dict[str, Any]
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def vocab_size(self) -> int:
        return self.meta["vocab_size"]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    @property
    def tokens_total(self) -> int:
        return int(self.meta.get("tokens", 0))

    @property
    def source(self) -> str:
        return str(self.meta.get("source", "?"))

    @property
    def tokenizer_name(self) -> str:
        return str(self.meta.get("tokenizer", "?"))

    def size_bytes(self) -> int:
        """Bytes on disk of every file in the folder."""
        total = 0
        for entry in os.scandir(self.dir):
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                pass
        return total

    def tokenizer(self) -> Tokenizer:
        return get_tokenizer(self.meta["tokenizer"], chars=self.meta.get("chars"))

    def shard_paths(self, split: str) -> list[Path]:
        return [self.dir / shard_name(split, i) for i in range(len(self.meta[f"{split}_shards"]))]

    def tokens(self, split: str) -> TokenSpace:
        """The split's tokens across its shards, memory-mapped read-only."""
        return TokenSpace.from_files(self.shard_paths(split), self.meta[f"{split}_shards"], self.dtype)

    def train(self) -> TokenSpace:
        return self.tokens("train")

    def val(self) -> TokenSpace:
        return self.tokens("val")

    def check_block_size(self, block_size: int) -> None:
        for split in SPLITS:
            n = self.meta[f"{split}_tokens"]
            if n < block_size + 1:
                raise DataError(
                    f"the {split} split has {n} tokens, fewer than block_size+1={block_size + 1}; "
                    "use a smaller block_size or more text"
                )


def open_prepared(directory: Path | str) -> PreparedDataset:
    """A prepared dataset from its folder; DataError when it is missing, incomplete or malformed."""
    directory = Path(directory)
    meta = _read_meta(directory)
    if meta.get("format") != FORMAT:
        raise DataError(f"{directory} was prepared by another version (format {meta.get('format')}); prepare it again")
    try:
        dtype = np.dtype(meta["dtype"])
        if dtype not in (np.uint16, np.uint32) or not isinstance(meta["vocab_size"], int):
            raise ValueError(meta["dtype"])
        for split in SPLITS:
            counts = meta[f"{split}_shards"]
            if not all(type(n) is int and n > 0 for n in counts) or sum(counts) != meta[f"{split}_tokens"]:
                raise ValueError(f"{split}_shards")
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{directory}/meta.toml is malformed ({e}); delete {directory} and prepare again") from None
    for split in SPLITS:
        for i, count in enumerate(meta[f"{split}_shards"]):
            path = directory / shard_name(split, i)
            expected = count * dtype.itemsize
            try:
                st = os.lstat(path)
                ok = stat.S_ISREG(st.st_mode) and st.st_size == expected
            except OSError:
                ok = False
            if not ok:
                raise DataError(f"{path} is missing or not {expected} bytes; delete {directory} and prepare again")
    return PreparedDataset(directory, meta)


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / "meta.toml"
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_META_BYTES:
            raise OSError(f"{path} is not a regular file under {MAX_META_BYTES} bytes")
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{directory} is not a prepared dataset ({e}); prepare it again") from None


def try_open(directory: Path) -> PreparedDataset | None:
    if not (directory / "meta.toml").exists():
        return None
    try:
        return open_prepared(directory)
    except DataError:
        return None


def list_prepared(datasets_dir: Path | str) -> list[PreparedDataset]:
    """Every prepared dataset in the folder, by name; a broken one is listed with its `problem`
    (and whatever of its meta could be read). Folders being prepared (hidden) are left out."""
    datasets_dir = Path(datasets_dir)
    try:
        entries = sorted(datasets_dir.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            found.append(open_prepared(entry))
        except DataError as e:
            try:
                meta = _read_meta(entry)
            except DataError:
                meta = {}
            found.append(PreparedDataset(entry, meta, problem=str(e)))
    return found


def delete_prepared(datasets_dir: Path | str, name: str) -> None:
    """Remove one prepared dataset (whether any run still uses it is the caller's to check). It is
    renamed aside first, so a reader never sees half of it; a run that has it mapped keeps reading."""
    datasets_dir = Path(datasets_dir)
    if not name or name.startswith(".") or "/" in name or "\0" in name or name in ("..", "."):
        raise DataError(f"{name!r} is not the name of a prepared dataset")
    path = datasets_dir / name
    if path.is_symlink() or not path.is_dir():
        raise DataError(f"no prepared dataset {name!r} in {datasets_dir}")
    with dataset_lock(datasets_dir, name):
        aside = datasets_dir / f".deleting-{name}-{os.getpid()}"
        os.rename(path, aside)
        shutil.rmtree(aside, ignore_errors=True)
