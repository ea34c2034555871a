"""Prepared datasets: a source tokenized once into shards that every run and trial on it shares.

`prepare` writes `<datasets_dir>/<name>-<tokenizer>-<hash>/` (the hash covers the source's
fingerprint, the tokenizer and the split) in a hidden `.partial-` folder renamed into place when
complete, under a per-dataset lock: a second engine or trial waits and reuses the first one's, and
a preparation that was killed goes on from its last complete shard. numpy only: the trainer turns
windows of the token spaces into tensors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from engine.core.errors import GptTuiError
from engine.data import build as builder
from engine.data.batches import Batches, get_batch, make_rng, rng_from_state, rng_state
from engine.data.build import Settings, token_dtype
from engine.data.corpus import DataError
from engine.data.encode import default_workers
from engine.data.locks import dataset_lock
from engine.data.prepared import (
    FORMAT,
    PreparedDataset,
    delete_prepared,
    list_prepared,
    open_prepared,
    try_open,
)
from engine.data.progress import PrepareProgress, progress_bar
from engine.data.shards import fsync_dir, shard_tokens
from engine.data.sources import Source, open_source, stream_chunks
from engine.data.tokenize import vocab_size_for

__all__ = [
    "DataError",
    "PrepareProgress",
    "PreparedDataset",
    "Batches",
    "prepare",
    "prepared_for",
    "prepared_tokens",
    "list_prepared",
    "delete_prepared",
    "open_prepared",
    "dataset_key",
    "token_dtype",
    "text_chunks",
    "get_batch",
    "make_rng",
    "rng_state",
    "rng_from_state",
    "vocab_size_for",
]

LARGE_CORPUS_CHARS = 5_000_000  # from this many source bytes on, prepare(progress=True) shows a bar
CHUNK_CHARS = 1 << 20  # plain text tokenized per piece, cut after a blank line or newline
STALE_SECONDS = 24 * 3600  # a partial folder untouched this long, and unlocked, is abandoned


def text_chunks(text: str, size: int | None = None) -> list[str]:
    """Pieces of about `size` characters, cut after a blank line (else a newline) where there is one,
    so a BPE tokenizer rarely sees a word split. The cuts depend only on the text."""
    return list(stream_chunks(iter([text]), size or CHUNK_CHARS))


def dataset_key(basename: str, tokenizer: str, digest: str, val_fraction: float) -> str:
    """The folder name of a prepared dataset, e.g. pydocs-char-1a2b3c4d."""
    settings = f"{digest}:{tokenizer}:{val_fraction!r}:{FORMAT}".encode()
    safe_tokenizer = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in tokenizer)
    return f"{basename}-{safe_tokenizer}-{hashlib.sha256(settings).hexdigest()[:8]}"


def prepare(
    dataset: str,
    tokenizer: str,
    datasets_dir: Path | str,
    val_fraction: float = 0.1,
    progress: bool = False,
    on_progress: Callable[[PrepareProgress], None] | None = None,
    text_field: str = "text",
    workers: int | None = None,
) -> PreparedDataset:
    """Tokenize a dataset into `datasets_dir`, or reuse the folder prepared from the same source.

    `progress` shows a rich bar (MB/s, tokens/s, time left) for a source of LARGE_CORPUS_CHARS bytes
    or more (or of unknown size); `on_progress` gets a PrepareProgress after each unit of text;
    `workers` threads tokenize (default: every core this process may use)."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    datasets_dir = Path(datasets_dir)
    source = open_source(dataset, text_field)
    digest = source.fingerprint()
    final = datasets_dir / dataset_key(source.basename, tokenizer, digest, val_fraction)
    if (existing := _try_open(final)) is not None:
        return existing
    datasets_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(datasets_dir)
    with dataset_lock(datasets_dir, final.name):
        if (existing := _try_open(final)) is not None:  # prepared by whoever held the lock before us
            return existing
        partial = datasets_dir / f".partial-{final.name}"
        unit = _unit_chars()
        # A BPE token can depend on where text is cut; a char or byte token never does, so their
        # chunks may be as small as a unit (and a unit of plain text is then smaller than a MiB).
        chunk = CHUNK_CHARS if tokenizer not in ("char", "byte") else min(CHUNK_CHARS, unit)
        settings = Settings(tokenizer, val_fraction, digest, chunk, unit, shard_tokens())
        show = progress and (source.total_bytes is None or source.total_bytes >= LARGE_CORPUS_CHARS)
        try:
            with progress_bar(source.label, show) as bar:

                def report(p: PrepareProgress) -> None:
                    bar(p)
                    if on_progress is not None:
                        on_progress(p)

                builder.build(partial, source, settings, workers or default_workers(), report)
        except Exception:  # a data error would only happen again: nothing worth resuming
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if final.exists():  # a broken leftover of an earlier version or a damaged copy
            shutil.rmtree(final)
        os.rename(partial, final)
        fsync_dir(datasets_dir)
    return open_prepared(final)


_try_open = try_open  # one name to patch in tests that stage a race


def _unit_chars() -> int:
    # Small shards (tests) get small units: a few to a shard, so that a kill can fall inside one.
    return min(builder.UNIT_CHARS, max(shard_tokens() // 4, 1024))


def prepared_for(
    dataset: str, tokenizer: str, datasets_dir: Path | str, text_field: str = "text", val_fraction: float = 0.1
) -> PreparedDataset | None:
    """The prepared folder of exactly this source and tokenizer, or None when there is none yet (or the
    source cannot be read). Reads the source's fingerprint: the files' bytes up to a GB, else their
    names, sizes and ends; a hub dataset's name alone."""
    try:
        source: Source = open_source(dataset, text_field)
        key = dataset_key(source.basename, tokenizer, source.fingerprint(), val_fraction)
    except (GptTuiError, OSError):
        return None
    return try_open(Path(datasets_dir) / key)


def prepared_tokens(dataset: str, tokenizer: str, datasets_dir: Path | str, text_field: str = "text") -> int | None:
    """The train split's token count of the prepared dataset (what an epoch is), or None when the
    dataset is not prepared yet: for estimates of epochs."""
    found = prepared_for(dataset, tokenizer, datasets_dir, text_field)
    return None if found is None else int(found.meta["train_tokens"])


def _remove_abandoned(datasets_dir: Path) -> None:
    """Partial folders nobody has touched for a day and nobody holds the lock of (and old temp ones)."""
    now = time.time()
    for entry in datasets_dir.glob(".*"):
        name = entry.name
        if not name.startswith((".partial-", ".tmp-", ".deleting-")) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            newest = max([entry.stat().st_mtime] + [p.stat().st_mtime for p in entry.iterdir()])
        except OSError:
            continue
        if now - newest < STALE_SECONDS:
            continue
        if not name.startswith(".partial-"):
            shutil.rmtree(entry, ignore_errors=True)
            continue
        with dataset_lock(datasets_dir, name.removeprefix(".partial-"), blocking=False) as held:
            if held:
                shutil.rmtree(entry, ignore_errors=True)
