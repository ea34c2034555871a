"""Documents from record files: JSON lines, a JSON array, Parquet; one document per record's text field.

A reader yields (record index, text or None, bytes read so far) from any record index on: record
indices run on across the files in path order, and a JSON line that is blank is no record. Parquet
is read a column and a batch at a time through pyarrow, so a file larger than memory streams.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from engine.data.corpus import DataError

PARQUET_BATCH_ROWS = 1024


def records_reader(files: list[Path], text_field: str):
    """A function of the start index that yields the documents of `files` from there."""

    def read(start: int) -> Iterator[tuple[int, str | None, int]]:
        index, before = 0, 0  # records and bytes of the files already passed
        for path in files:
            size = path.stat().st_size
            suffix = path.suffix.lower()
            skip = max(0, start - index)
            if suffix == ".parquet":
                reader = _parquet
            elif suffix == ".json" and _is_json_array(path):
                reader = _json_array
            else:
                reader = _json_lines
            count = yield from reader(path, text_field, skip, index, before)
            index, before = index + count, before + size

    return read


def field_text(record: Any, field: str, where: str) -> str | None:
    """The text of one record; DataError naming the fields there are when `field` is not one."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a record must be a JSON object, not {type(record).__name__}")
    if field not in record:
        raise missing_field(where, field, list(record))
    return text_value(record[field], field, where)


def missing_field(where: str, field: str, fields: list[str]) -> DataError:
    found = ", ".join(repr(f) for f in fields[:20]) + (", ..." if len(fields) > 20 else "")
    return DataError(f"{where}: no field {field!r}; its fields: {found or 'none'}. Set text_field to the text's")


def text_value(value: Any, field: str, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(f"{where}: field {field!r} is {type(value).__name__}, not text; set text_field to a text field")


# -- JSON -------------------------------------------------------------------------------


# Each reader yields (base + index, text, before + bytes read) for the records from `skip` on, and
# returns how many records the file has.


def _json_lines(path: Path, field: str, skip: int, base: int, before: int) -> Generator[Any, None, int]:
    index, done = 0, 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            done += len(line)
            if not line.strip():
                continue
            if index >= skip:  # the lines before a resumed start are counted, not parsed
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise DataError(
                        f"{path}, line {number}: not JSON ({e}); a .jsonl file holds one JSON object per line"
                    ) from None
                yield base + index, field_text(record, field, f"{path}, line {number}"), before + done
            index += 1
    return index


def _is_json_array(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _load_json_array(path: Path) -> list:
    # A JSON array is parsed whole: fine for the small files it is used for; large corpora are JSON lines.
    try:
        records = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not JSON ({e}); use one array of objects, or JSON lines") from None
    return records


def _json_array(path: Path, field: str, skip: int, base: int, before: int) -> Generator[Any, None, int]:
    records = _load_json_array(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: a .json file must hold one array of objects (or be JSON lines)")
    size = path.stat().st_size
    for i in range(skip, len(records)):
        yield base + i, field_text(records[i], field, f"{path}, record {i}"), before + size * (i + 1) // len(records)
    return len(records)


# -- Parquet ----------------------------------------------------------------------------


def parquet_rows(path: Path) -> int:
    return _parquet_file(path).metadata.num_rows


def _parquet_file(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow's ArrowInvalid and friends: not a Parquet file
        raise DataError(f"{path}: not a Parquet file ({e})") from None


def parquet_fields(path: Path) -> list[str]:
    return list(_parquet_file(path).schema_arrow.names)


def _parquet(path: Path, field: str, skip: int, base: int, before: int) -> Generator[Any, None, int]:
    import pyarrow as pa

    pf = _parquet_file(path)
    total, size = pf.metadata.num_rows, path.stat().st_size
    if skip >= total:  # a file wholly before a resumed start: known from its metadata, unread
        return total
    names = pf.schema_arrow.names
    if field not in names:
        raise missing_field(str(path), field, names)
    kind = pf.schema_arrow.field(field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
        raise DataError(f"{path}: field {field!r} is {kind}, not text; set text_field to a text field")
    groups, first = [], 0  # the row groups from the one holding row `skip` on, unread before it
    for g in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(g).num_rows
        if first + rows > skip:
            groups.append(g)
        elif not groups:
            first += rows
    index = first
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[field], row_groups=groups):
        for text in batch.column(0).to_pylist():
            if index >= skip:
                yield base + index, text, before + size * (index + 1) // total
            index += 1
    return total
