"""Tokenizing a source into a folder of shards, resumably: the loop that engine.data.prepare runs.

Plain text is one stream whose last val_fraction of tokens becomes val, as it always was; documents
go whole to train or val by a keyed hash of their record index (blake2b, so the split depends on
neither the machine nor the number of workers). Each document ends with a separator (engine.data.encode).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from engine.data.corpus import DataError
from engine.data.encode import Encoder, encoded_units, separator_name
from engine.data.prepared import FORMAT
from engine.data.progress import PrepareProgress
from engine.data.shards import (
    PROGRESS,
    ShardStream,
    read_progress,
    shard_name,
    split_tail,
    write_progress,
    write_synced,
)
from engine.data.sources import Source, scan_chars
from engine.data.tokenize import Tokenizer, get_tokenizer

UNIT_CHARS = 8 << 20  # text handed to the workers at a time (at most ~3 such units are in memory)
FAULT_ENV = "GPT_TUI_PREPARE_FAULT"  # "kill@N": SIGKILL this process after its Nth unit (fault tests)
VAL_KEY = b"gpt-tui/val-split"


@dataclass(frozen=True)
class Settings:
    """What the bytes written depend on: a partial folder made with other settings starts over."""

    tokenizer: str
    val_fraction: float
    fingerprint: str
    chunk_chars: int
    unit_chars: int
    shard_tokens: int


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 65535 else np.uint32)


def is_val(index: int, fraction: float) -> bool:
    digest = hashlib.blake2b(index.to_bytes(8, "little"), key=VAL_KEY, digest_size=8).digest()
    return int.from_bytes(digest, "little") < fraction * 2**64


def build(
    partial: Path, source: Source, settings: Settings, workers: int, report: Callable[[PrepareProgress], None]
) -> dict[str, Any]:
    """Tokenize `source` into `partial` (going on from what an earlier attempt recorded there) and
    write its meta.toml; returns the meta."""
    progress = read_progress(partial)
    if progress is None or progress.get("settings") != asdict(settings) or not _intact(partial, progress):
        progress = _start(partial, source, settings)
    tok = get_tokenizer(settings.tokenizer, chars=progress.get("chars"))
    dtype = token_dtype(tok.vocab_size)
    if progress["state"] == "tokenizing":
        _tokenize(partial, source, settings, tok, dtype, progress, workers, report)
    train, val = progress["train"]["complete"], progress["val"]["complete"]
    if source.kind == "text":
        total = sum(train)
        train, val = split_tail(partial, train, int(total * (1.0 - settings.val_fraction)), dtype)
    meta = {
        "format": FORMAT,
        "dataset": source.dataset,
        "source": source.label,
        "source_hash": settings.fingerprint,
        "kind": source.kind,
        **({"text_field": source.text_field} if source.kind == "documents" else {}),
        "tokenizer": tok.name,
        "vocab_size": tok.vocab_size,
        "dtype": dtype.name,
        "separator": separator_name(tok) if source.kind == "documents" else "none",
        "characters": progress["characters"],
        "documents": progress["documents"],
        "tokens": sum(train) + sum(val),
        "train_tokens": sum(train),
        "val_tokens": sum(val),
        "val_fraction": settings.val_fraction,
        "train_shards": train,
        "val_shards": val,
        "prepared": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in tok.meta().items() if k not in ("tokenizer", "vocab_size")},
    }
    write_synced(partial / "meta.toml", tomli_w.dumps(meta).encode("utf-8"))
    (partial / PROGRESS).unlink(missing_ok=True)
    return meta


def _start(partial: Path, source: Source, settings: Settings) -> dict[str, Any]:
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)  # private to its owner, as the mkdtemp folder it replaces was
    chars = scan_chars(source) if settings.tokenizer == "char" else None
    empty = {"complete": [], "open": 0}
    progress = {"settings": asdict(settings), "state": "tokenizing", "position": 0, "bytes": 0}
    progress |= {"documents": 0, "characters": 0, "text": False, "train": empty, "val": empty}
    progress |= {"chars": chars} if chars is not None else {}
    write_progress(partial, progress)
    return progress


def _intact(partial: Path, progress: dict[str, Any]) -> bool:
    """Whether the shards progress.toml records are all there (at least as long as recorded): a
    partial folder someone tidied by hand starts over rather than resuming over a hole."""
    if progress.get("state") != "tokenizing":
        return True  # the text split may be moving files: it checks each step itself
    try:
        tok = get_tokenizer(progress["settings"]["tokenizer"], chars=progress.get("chars"))
        itemsize = token_dtype(tok.vocab_size).itemsize
        for split in ("train", "val"):
            counts = [*progress[split]["complete"], progress[split]["open"]]
            for i, count in enumerate(counts):
                path = partial / shard_name(split, i)
                if count and not (path.is_file() and path.stat().st_size >= count * itemsize):
                    return False
                if count and i < len(counts) - 1 and path.stat().st_size != count * itemsize:
                    return False
    except (KeyError, TypeError, ValueError, OSError, DataError):
        return False
    return True


def _tokenize(
    partial: Path,
    source: Source,
    settings: Settings,
    tok: Tokenizer,
    dtype: np.dtype,
    progress: dict[str, Any],
    workers: int,
    report: Callable[[PrepareProgress], None],
) -> None:
    limit = settings.shard_tokens
    streams = {
        s: ShardStream(partial, s, dtype, limit, progress[s]["complete"], progress[s]["open"]) for s in ("train", "val")
    }
    source.ready()
    t0 = time.perf_counter()

    def send() -> None:
        tokens = sum(s.tokens for s in streams.values())
        shards = sum(len(s.complete) for s in streams.values())
        seconds = time.perf_counter() - t0
        report(PrepareProgress(progress["bytes"], source.total_bytes, tokens, progress["documents"], seconds, shards))

    send()
    kill_after = _fault_units()
    units = source.units(progress["position"], settings.unit_chars, settings.chunk_chars)
    encoder = Encoder(tok, dtype, documents=source.kind == "documents")
    for n, (unit, train, val) in enumerate(encoded_units(units, encoder, workers, _val_test(settings)), 1):
        completed = streams["train"].write(train)
        completed = streams["val"].write(val) or completed
        progress["position"], progress["bytes"] = unit.next_position, unit.bytes_done
        progress["documents"] += len(unit.texts) if unit.indices is not None else 0
        progress["characters"] += unit.chars
        progress["text"] = progress["text"] or any(t and not t.isspace() for t in unit.texts)
        if completed:  # a shard is done: record it, with the others' open lengths, fsynced
            for s in streams.values():
                s.sync()
            progress |= {name: s.state() for name, s in streams.items()}
            write_progress(partial, progress)
        send()
        if n == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    if not progress["text"]:
        raise DataError(f"dataset {source.dataset!r} is empty: it has no text to train on")
    for s in streams.values():
        s.close_shard()
    progress |= {name: s.state() for name, s in streams.items()} | {"state": "tokenized"}
    write_progress(partial, progress)
    send()


def _val_test(settings: Settings) -> Callable[[int], bool]:
    fraction = settings.val_fraction
    return lambda index: is_val(index, fraction)


def _fault_units() -> int | None:
    value = os.environ.get(FAULT_ENV, "")
    return int(value[5:]) if value.startswith("kill@") and value[5:].isdigit() else None
