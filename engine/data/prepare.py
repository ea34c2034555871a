"""Prepared datasets: a corpus tokenized once into train.bin / val.bin, and random batches from them.

`prepare` writes `<datasets_dir>/<name>-<tokenizer>-<hash>/` (the hash covers the source and the
split), into a hidden temp folder renamed into place, so a half-prepared dataset never appears
and two racing processes end up sharing the winner's. numpy only; batches are numpy arrays that
the worker turns into tensors.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from engine.data.batches import Batches, get_batch, make_rng, rng_from_state, rng_state
from engine.data.corpus import DataError, dataset_basename, read_corpus, source_hash, source_label
from engine.data.tokenize import Tokenizer, get_tokenizer, vocab_size_for

__all__ = [
    "DataError",
    "PreparedDataset",
    "Batches",
    "prepare",
    "open_prepared",
    "dataset_key",
    "token_dtype",
    "get_batch",
    "make_rng",
    "rng_state",
    "rng_from_state",
    "vocab_size_for",
]

FORMAT = 1  # bump when the layout of a prepared dataset changes; old ones are then re-prepared
LARGE_CORPUS_CHARS = 5_000_000  # above this, prepare(progress=True) shows a progress bar
CHUNK_CHARS = 1 << 20  # text tokenized per step, cut after a blank line or newline
STALE_TEMP_SECONDS = 24 * 3600  # a temp folder untouched this long belongs to a dead process
SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65535 else np.uint32)


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared dataset folder and its meta.toml."""

    dir: Path
    meta: dict[str, Any]

    @property
    def vocab_size(self) -> int:
        return self.meta["vocab_size"]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    def tokenizer(self) -> Tokenizer:
        return get_tokenizer(self.meta["tokenizer"], chars=self.meta.get("chars"))

    def tokens(self, split: str) -> np.ndarray:
        """The split's tokens, memory-mapped read-only (an empty split is an empty array)."""
        count = self.meta[f"{split}_tokens"]
        if count == 0:
            return np.zeros(0, dtype=self.dtype)  # numpy cannot map an empty file
        return np.memmap(self.dir / f"{split}.bin", dtype=self.dtype, mode="r", shape=(count,))

    def train(self) -> np.ndarray:
        return self.tokens("train")

    def val(self) -> np.ndarray:
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
    """A prepared dataset from its folder; DataError when it is missing or incomplete."""
    directory = Path(directory)
    try:
        meta = tomllib.loads((directory / "meta.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{directory} is not a prepared dataset ({e}); prepare it again") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"{directory} was prepared by another version (format {meta.get('format')}); prepare it again")
    itemsize = np.dtype(meta["dtype"]).itemsize
    for split in SPLITS:
        path = directory / f"{split}.bin"
        expected = meta[f"{split}_tokens"] * itemsize
        if not path.is_file() or path.stat().st_size != expected:
            raise DataError(f"{path} is missing or not {expected} bytes; delete {directory} and prepare again")
    return PreparedDataset(directory, meta)


def dataset_key(dataset: str, tokenizer: str, digest: str, val_fraction: float) -> str:
    """The folder name of a prepared dataset, e.g. pydocs-char-1a2b3c4d."""
    settings = f"{digest}:{tokenizer}:{val_fraction!r}:{FORMAT}".encode()
    safe_tokenizer = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in tokenizer)
    return f"{dataset_basename(dataset)}-{safe_tokenizer}-{hashlib.sha256(settings).hexdigest()[:8]}"


def prepare(
    dataset: str, tokenizer: str, datasets_dir: Path | str, val_fraction: float = 0.1, progress: bool = False
) -> PreparedDataset:
    """Tokenize a corpus into `datasets_dir`, or reuse the folder prepared from the same source."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    datasets_dir = Path(datasets_dir)
    digest = source_hash(dataset)
    final = datasets_dir / dataset_key(dataset, tokenizer, digest, val_fraction)
    if (existing := _try_open(final)) is not None:
        return existing
    datasets_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(datasets_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=datasets_dir))
    try:
        _write_prepared(tmp, dataset, tokenizer, digest, val_fraction, progress)
        try:
            os.rename(tmp, final)
        except OSError:  # another process got there first, or a broken leftover is in the way
            if (winner := _try_open(final)) is not None:
                return winner
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        _fsync_dir(datasets_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_prepared(final)


def _try_open(directory: Path) -> PreparedDataset | None:
    if not (directory / "meta.toml").exists():
        return None
    try:
        return open_prepared(directory)
    except DataError:
        return None


def _write_prepared(out: Path, dataset: str, tokenizer: str, digest: str, val_fraction: float, progress: bool) -> None:
    text = read_corpus(dataset)
    tok = get_tokenizer(tokenizer, text_for_char_vocab=text)
    dtype = token_dtype(tok.vocab_size)
    train_path, val_path = out / "train.bin", out / "val.bin"
    n = 0
    with open(train_path, "wb") as f, _progress_bar(len(text), progress, dataset) as advance:
        for chunk in text_chunks(text):
            ids = tok.encode_array(chunk, dtype=dtype.name)
            f.write(ids.tobytes())
            n += len(ids)
            advance(len(chunk))
    n_train = int(n * (1.0 - val_fraction))
    _move_tail(train_path, val_path, n_train * dtype.itemsize)
    meta = {
        "format": FORMAT,
        "dataset": dataset,
        "source": source_label(dataset),
        "source_hash": digest,
        "tokenizer": tok.name,
        "vocab_size": tok.vocab_size,
        "dtype": dtype.name,
        "characters": len(text),
        "tokens": n,
        "train_tokens": n_train,
        "val_tokens": n - n_train,
        "val_fraction": val_fraction,
        "prepared": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in tok.meta().items() if k not in ("tokenizer", "vocab_size")},
    }
    _write_synced(out / "meta.toml", tomli_w.dumps(meta).encode("utf-8"))


def text_chunks(text: str, size: int | None = None) -> Iterator[str]:
    """Pieces of about `size` characters, cut after a blank line (else a newline) where there is one,
    so a BPE tokenizer rarely sees a word split. The cuts depend only on the text."""
    size = size or CHUNK_CHARS
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n\n", start, end)
            cut = cut + 2 if cut > start else text.rfind("\n", start, end) + 1
            if cut > start:
                end = cut
        yield text[start:end]
        start = end


def _move_tail(train_path: Path, val_path: Path, split_at: int) -> None:
    """Everything past byte `split_at` of train.bin goes to val.bin; train.bin is cut there."""
    with open(train_path, "r+b") as f:
        f.seek(split_at)
        _write_synced(val_path, f.read())
        f.truncate(split_at)
        f.flush()
        os.fsync(f.fileno())


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
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


def _remove_stale_temps(datasets_dir: Path) -> None:
    now = time.time()
    for tmp in datasets_dir.glob(".tmp-*"):
        try:
            newest = max([tmp.stat().st_mtime] + [p.stat().st_mtime for p in tmp.iterdir()])
        except OSError:
            continue
        if now - newest > STALE_TEMP_SECONDS:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _progress_bar(total_chars: int, enabled: bool, label: str) -> Iterator[Callable[[int], None]]:
    if not enabled or total_chars < LARGE_CORPUS_CHARS:
        yield lambda n: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(f"tokenizing {label}", total=total_chars)
        yield lambda n: bar.advance(task, n)
