"""Where a dataset's text comes from: the `dataset` string read as a Source that yields units of text.

    pydocs                      the built-in corpus                          (plain text)
    a text file or folder       as before: files joined by a blank line     (plain text)
    a .jsonl/.json/.parquet     one document per record, its `text_field`    (documents)
      file, or a folder of them
    a Dataset.save_to_disk dir  one document per row                         (documents)
    hf:NAME[:CONFIG][@SPLIT]    a Hugging Face dataset, cached or streamed   (documents)

Plain text is one stream (its val split is its last tokens, as it always was); documents are
tokenized one by one and each is a whole member of train or val (engine.data.prepare). A unit is the
next run of text from a position (a byte offset for plain text, a record index for documents); its
cuts depend on the text alone, so a preparation resumed at a unit boundary writes the same bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.data import hub
from engine.data.corpus import (
    DataError,
    _scan,
    builtin_corpus_text,
    char_vocab,
    dataset_basename,
    is_builtin,
    resolve_path,
    source_hash,
)
from engine.data.text_stream import TextStream

RECORD_SUFFIXES = (".jsonl", ".json", ".parquet")
HUB_PREFIX = "hf:"
FULL_HASH_BYTES = 1 << 30  # above this, files are fingerprinted by name, size, mtime and their ends

# A document reader yields (record index, its text or None, source bytes read so far) from a start.
Records = Callable[[int], Iterator[tuple[int, str | None, int]]]


@dataclass
class Unit:
    """The next run of text: chunks of a stream, or documents with their record indices."""

    texts: list[str]
    indices: list[int] | None  # documents only: what the val split is drawn from
    next_position: int  # where the unit after this one starts
    bytes_done: int  # source bytes read by its end (estimated for compressed or columnar files)
    chars: int


@dataclass
class Source:
    dataset: str
    kind: str  # "text" or "documents"
    label: str  # for meta.toml: builtin:pydocs, an absolute path, hf:NAME...
    basename: str  # the start of the prepared folder's name
    total_bytes: int | None
    fingerprint: Callable[[], str]
    text: TextStream | None = None
    records: Records | None = None
    text_field: str | None = None  # documents only
    loader: Callable[[], tuple[int | None, Records]] | None = None  # a Hugging Face dataset, opened late

    def ready(self) -> Source:
        """Opens what is slow to open (a Hugging Face dataset), once, when it is to be read."""
        if self.records is None and self.loader is not None:
            self.total_bytes, self.records = self.loader()
        return self

    def units(self, start: int, unit_chars: int, chunk_chars: int) -> Iterator[Unit]:
        if self.text is not None:
            return _text_units(self.text, start, unit_chars, chunk_chars)
        records = self.ready().records
        assert records is not None
        return _document_units(records(start), start, unit_chars)


def open_source(dataset: str, text_field: str = "text") -> Source:
    """The Source of a dataset string; DataError (with what to do) when it cannot be read."""
    if is_builtin(dataset):
        stream = TextStream.of_text(builtin_corpus_text(dataset))
        fp = lambda: source_hash(dataset)  # noqa: E731
        return Source(dataset, "text", f"builtin:{dataset}", dataset, stream.total, fp, stream)
    if dataset.startswith(HUB_PREFIX):
        spec, load = hub.hub_loader(dataset, text_field)
        digest = hashlib.sha256(f"{spec.label}\0{text_field}".encode()).hexdigest()
        # A hub dataset is known by its name: once prepared it is not compared with the hub again
        # (delete the prepared folder to take a newer version).
        fp = lambda: digest  # noqa: E731
        return Source(dataset, "documents", spec.label, _safe(spec.name), None, fp, None, None, text_field, load)
    path = resolve_path(dataset)
    label, basename = str(path), dataset_basename(dataset)
    if path.is_dir() and is_saved_dataset(path):
        fp = lambda: hashlib.sha256(f"{hub.saved_fingerprint(path)}:{text_field}".encode()).hexdigest()  # noqa: E731
        load = hub.saved_loader(path, text_field)
        return Source(dataset, "documents", label, basename, None, fp, None, None, text_field, load)
    record_files = _record_files(path)
    if record_files:
        from engine.data.records import records_reader

        total = sum(p.stat().st_size for p in record_files)
        reader = records_reader(record_files, text_field)
        fp = lambda: files_fingerprint(path, record_files, f"records:{text_field}")  # noqa: E731
        return Source(dataset, "documents", label, basename, total, fp, records=reader, text_field=text_field)
    files = _scan(path)[0]
    stream = TextStream.of_files(files)
    fp = lambda: files_fingerprint(path, files, None, dataset)  # noqa: E731
    return Source(dataset, "text", label, basename, stream.total, fp, stream)


def _safe(name: str) -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in name.split("/")[-1])
    return safe.strip("-.")[:40] or "hub"


def is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


def _record_files(path: Path) -> list[Path]:
    """The record files a path is read as, or [] when it is plain text. A folder is records when it
    holds a .jsonl or .parquet file, or when all its files are .json (others, like a README, are left
    out); any other folder is text, as before."""
    if path.is_file():
        return [path] if path.suffix.lower() in RECORD_SUFFIXES else []
    found: list[Path] = []
    others = False
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in RECORD_SUFFIXES:
                found.append(Path(root, name))
            else:
                others = True
    found.sort(key=lambda p: p.relative_to(path).as_posix())
    strong = any(p.suffix.lower() in (".jsonl", ".parquet") for p in found)
    return found if found and (strong or not others) else []


def files_fingerprint(root: Path, files: list[Path], salt: str | None, dataset: str | None = None) -> str:
    """sha256 of the files' names and bytes (for plain text, exactly the corpus hash it always was);
    past FULL_HASH_BYTES, of each file's name, size, mtime and first and last MiB, so that a corpus of
    many GB is not read in full each time a run starts."""
    sizes = [p.stat() for p in files]
    if sum(s.st_size for s in sizes) <= FULL_HASH_BYTES:
        if dataset is not None:
            return source_hash(dataset)
        h = hashlib.sha256(salt.encode() if salt else b"")
        for path in files:
            _hash_name(h, root, path)
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        return h.hexdigest()
    h = hashlib.sha256(b"sampled:" + (salt or "").encode())
    for path, st in zip(files, sizes):
        _hash_name(h, root, path)
        h.update(b"%d:%d:" % (st.st_size, st.st_mtime_ns))
        with open(path, "rb") as f:
            h.update(f.read(1 << 20))
            f.seek(max(0, st.st_size - (1 << 20)))
            h.update(f.read(1 << 20))
    return h.hexdigest()


def _hash_name(h, root: Path, path: Path) -> None:
    name = (path.relative_to(root).as_posix() if root.is_dir() else path.name).encode("utf-8")
    h.update(b"%d:%s:" % (len(name), name))


# -- units ------------------------------------------------------------------------------


def _text_units(stream: TextStream, start: int, unit_chars: int, chunk_chars: int) -> Iterator[Unit]:
    texts: list[str] = []
    chars, position = 0, start
    for chunk in stream_chunks(stream.pieces(start), chunk_chars):
        texts.append(chunk)
        chars += len(chunk)
        position += len(chunk.encode("utf-8"))
        if chars >= unit_chars:
            yield Unit(texts, None, position, position, chars)
            texts, chars = [], 0
    if texts:
        yield Unit(texts, None, position, position, chars)


def _document_units(records: Iterator[tuple[int, str | None, int]], start: int, unit_chars: int) -> Iterator[Unit]:
    texts: list[str] = []
    indices: list[int] = []
    chars, position, done = 0, start, 0
    for index, text, done in records:
        position = index + 1
        if text:  # an empty or missing text is no document: no tokens, no separator
            texts.append(text)
            indices.append(index)
            chars += len(text)
        if chars >= unit_chars:
            yield Unit(texts, indices, position, done, chars)
            texts, indices, chars = [], [], 0
    if texts or position > start:
        yield Unit(texts, indices, position, done, chars)


def stream_chunks(pieces: Iterator[str], size: int) -> Iterator[str]:
    """Pieces of about `size` characters, cut after a blank line (else a newline) where there is one,
    so a BPE tokenizer rarely sees a word split. A cut depends only on the `size` characters after the
    previous one, so the chunks from any cut on are the same however the text arrives."""
    buf, pieces = "", iter(pieces)
    exhausted = False
    while True:
        while not exhausted and len(buf) <= size:
            piece = next(pieces, None)
            if piece is None:
                exhausted = True
            else:
                buf += piece
        if not buf:
            return
        end = min(len(buf), size)
        if end < len(buf):
            cut = buf.rfind("\n\n", 0, end)
            cut = cut + 2 if cut > 0 else buf.rfind("\n", 0, end) + 1
            if cut > 0:
                end = cut
        yield buf[:end]
        buf = buf[end:]


def scan_chars(source: Source) -> str:
    """The char tokenizer's vocabulary: every character of the text (and "\\n" of the blank line
    after each document), found in a pass of its own since an id depends on the whole sorted set."""
    seen: set[str] = set()
    if source.text is not None:
        for piece in source.text.pieces(0):
            seen.update(piece)
    else:
        records = source.ready().records
        assert records is not None
        for _, text, _ in records(0):
            if text:
                seen.update(text)
        seen.add("\n")
    if not "".join(seen).strip():
        raise DataError(f"dataset {source.dataset!r} is empty: it has no text to train on")
    return char_vocab("".join(seen))


# -- checks at queue time ---------------------------------------------------------------


def dataset_problem(dataset: str, text_field: str = "text") -> str | None:
    """Why a run could not read `dataset`, or None. Cheap: a path's kind and its first record or
    schema, a hub dataset's spelling and (offline) its cache; the rest is found when it is prepared."""
    if is_builtin(dataset):
        return None
    if dataset.startswith(HUB_PREFIX):
        return hub.hub_problem(dataset)
    try:
        path = resolve_path(dataset)
        if path.is_dir() and is_saved_dataset(path):
            _field_in(hub.saved_fields(path), text_field, str(path))
        elif files := _record_files(path):
            _first_record_problem(files[0], text_field)
        else:
            _scan(path)
    except DataError as e:
        return str(e)
    except OSError as e:
        return f"cannot read dataset {dataset!r}: {e.strerror or e}"
    return None


def _field_in(fields: list[str], text_field: str, where: str) -> None:
    from engine.data.records import missing_field

    if text_field not in fields:
        raise missing_field(where, text_field, fields)


def _first_record_problem(path: Path, text_field: str) -> None:
    from engine.data import records

    if path.suffix.lower() == ".parquet":
        _field_in(records.parquet_fields(path), text_field, str(path))
    else:
        next(records.records_reader([path], text_field)(0), None)  # parses the first record alone
