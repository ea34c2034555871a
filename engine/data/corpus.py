"""Corpora: the built-in text, a user's files or folders, their hash and their vocabulary size.

Light module: no numpy, no torch. The TUI's estimates import it.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import os
from pathlib import Path

from engine.core.errors import GptTuiError

BUILTIN_CORPORA = ("pydocs",)
SNIFF_BYTES = 8192  # how much of a file is read to tell text from binary
FILE_SEPARATOR = "\n\n"  # between the files of a folder corpus


class DataError(GptTuiError):
    """A corpus or prepared dataset cannot be used; the message says what to do."""


# -- the built-in corpus ----------------------------------------------------------------


@functools.cache
def builtin_corpus_text(name: str = "pydocs") -> str:
    """The Python reference documentation that ships with CPython (about 0.5 M characters)."""
    if name != "pydocs":
        raise DataError(f"unknown built-in corpus {name!r}; built in: {', '.join(BUILTIN_CORPORA)}")
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise DataError(
            "this Python has no pydoc_data (some distributions strip it); "
            "give dataset a path to a text file or folder instead"
        ) from None
    return "\n\n".join(topics[key] for key in sorted(topics))


def is_builtin(dataset: str) -> bool:
    """A built-in name wins over a file of the same name; write ./pydocs for the file."""
    return dataset in BUILTIN_CORPORA


def char_vocab(text: str) -> str:
    """The sorted distinct characters of a text: the char tokenizer's vocabulary."""
    return "".join(sorted(set(text)))


# -- files ------------------------------------------------------------------------------


def resolve_path(dataset: str) -> Path:
    path = Path(dataset).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset {dataset!r} not found: no such file or folder "
            f"(use {BUILTIN_CORPORA[0]!r} for the built-in corpus, or a path to text)"
        )
    return path.resolve()


def binary_reason(path: Path) -> str | None:
    """Why a file is not UTF-8 text, judged from its first 8 KB; None when it looks like text."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\0" in head:
        return "it has NUL bytes, so it looks binary"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut character is fine
    except UnicodeDecodeError as e:
        return f"it is not UTF-8 text (undecodable byte at offset {e.start})"
    return None


def _scan(path: Path) -> tuple[list[Path], list[Path]]:
    """The text files of a file or folder (sorted, hidden ones left out), and the binary ones skipped."""
    if path.is_file():
        reason = binary_reason(path)
        if reason:
            raise DataError(f"{path}: {reason}; the dataset must be UTF-8 text")
        return [path], []
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root, name) for name in files if not name.startswith("."))
    found.sort(key=lambda p: p.relative_to(path).as_posix())
    text, skipped = [], []
    for p in found:
        if p.is_file():
            (skipped if binary_reason(p) else text).append(p)
    if not text:
        extra = f" ({len(skipped)} binary or non-UTF-8 file(s) skipped, e.g. {skipped[0]})" if skipped else ""
        raise DataError(f"{path}: no text files in this folder{extra}")
    return text, skipped


def corpus_files(dataset: str) -> list[Path]:
    """The text files a path dataset is made of: the file itself, or a folder's text files by path."""
    return _scan(resolve_path(dataset))[0]


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # a Windows editor's BOM is not text
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not UTF-8 text (undecodable byte at offset {e.start}); convert it to UTF-8 or leave it out"
        ) from None


def read_corpus(dataset: str) -> str:
    """The whole text of a dataset: the built-in corpus, a file, or a folder's files joined."""
    if is_builtin(dataset):
        text = builtin_corpus_text(dataset)
    else:
        text = FILE_SEPARATOR.join(_read_text(p) for p in corpus_files(dataset))
    if not text.strip():
        raise DataError(f"dataset {dataset!r} is empty: it has no text to train on")
    return text


def source_label(dataset: str) -> str:
    """Where a dataset comes from, as written to meta.toml: builtin:pydocs or an absolute path."""
    return f"builtin:{dataset}" if is_builtin(dataset) else str(resolve_path(dataset))


def source_hash(dataset: str) -> str:
    """sha256 of the corpus: the text, or each file's relative name and bytes (streamed)."""
    h = hashlib.sha256()
    if is_builtin(dataset):
        h.update(builtin_corpus_text(dataset).encode("utf-8"))
        return h.hexdigest()
    root = resolve_path(dataset)
    for path in corpus_files(dataset):
        if root.is_dir():
            name = path.relative_to(root).as_posix().encode("utf-8")
            h.update(b"%d:%s:%d:" % (len(name), name, path.stat().st_size))
        with open(path, "rb") as f:
            for block in iter(functools.partial(f.read, 1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def dataset_basename(dataset: str) -> str:
    """A short, filesystem-safe name for a dataset: pydocs, or the file's stem / the folder's name."""
    if is_builtin(dataset):
        return dataset
    path = resolve_path(dataset)
    raw = path.stem if path.is_file() else path.name
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in raw)
    return safe.strip("-.")[:40] or "corpus"
