"""The append-only TOML log: record format, torn tails, the fast parser and the tail reader."""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store.logfile import (
    _SHAPES,
    AppendLog,
    LogTail,
    append_record,
    format_record,
    parse_chunk,
    parse_simple_record,
    read_log,
    read_records,
    rejected_path,
)

TRAIN = {
    "step": 10,
    "tokens": 81920,
    "loss": 2.5,
    "lr": 0.0006,
    "ms_per_iter": 120.5,
    "tokens_per_s": 67983.4,
    "mfu": 0.12,
    "mem_rss": 2147483648,
}


def same(a: Any, b: Any) -> bool:
    """Equality that treats nan as equal to nan and tells -0.0 from 0.0 (and 1 from 1.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# --- the record format -----------------------------------------------------------------------


def test_a_metrics_record_is_one_array_table_ending_in_one_blank_line():
    text = format_record("train", {"step": 1, "loss": 2.5, "ok": True, "note": "hi"})
    assert text == '[[train]]\nstep = 1\nloss = 2.5\nok = true\nnote = "hi"\n\n'


@pytest.mark.parametrize(
    "record",
    [
        {"note": 'a "quoted" \\ line\nbreak\ttab'},
        {"a b": 1, "é": 2.0},
        {"nested": {"x": 1, "deeper": {"y": [1, 2]}}, "after": 3},
        {"rows": [{"a": 1}, {"b": 2}]},
        {"long": list(range(60))},
        {},
    ],
)
def test_records_that_need_tomli_w_still_end_in_the_only_blank_line(record):
    text = format_record("train", record)
    assert text.endswith("\n\n") and "\n\n" not in text[:-2]
    assert tomllib.loads(text) == {"train": [record]}


@pytest.mark.parametrize("table", ["", "a b", "a.b", "x]]", "t\n"])
def test_table_names_must_be_bare_keys(table):
    with pytest.raises(ValueError, match="log table name"):
        format_record(table, {"a": 1})


# --- the fast parser agrees with tomllib -----------------------------------------------------

BARE_KEYS = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-", min_size=1, max_size=10)
ANY_KEYS = BARE_KEYS | st.text(max_size=6)
PLAIN_TEXT = st.text(st.characters(blacklist_characters='"\\', blacklist_categories=("Cc", "Cs")))
SCALARS = (
    st.integers(-(2**70), 2**70)
    | st.floats()
    | st.booleans()
    | st.text()
    | st.sampled_from([1e-05, 5e-324, 1e16, -0.0, 1.7976931348623157e308, -math.inf])
)
SIMPLE_VALUES = st.integers(-(2**70), 2**70) | st.floats() | st.booleans() | PLAIN_TEXT
VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(ANY_KEYS, SCALARS, max_size=3)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(BARE_KEYS, SIMPLE_VALUES, max_size=10))
def test_simple_records_take_the_fast_path_and_parse_exactly_as_tomllib(record):
    text = format_record("train", record)
    fast = parse_simple_record(text[:-2])
    assert fast is not None
    expected = tomllib.loads(text)["train"][0]
    assert same(fast, ("train", expected)) and list(fast[1]) == list(expected)
    assert same(fast[1], record)


VALUES_OF_TYPE = {int: st.integers(-(2**70), 2**70), float: st.floats(), bool: st.booleans(), str: st.text()}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(BARE_KEYS, st.sampled_from(list(VALUES_OF_TYPE)), max_size=8), st.data())
def test_records_of_a_shape_already_seen_parse_exactly_as_tomllib(types, data):
    _SHAPES.clear()
    for _ in range(3):  # the first teaches the shape, the others are read with it
        record = {key: data.draw(VALUES_OF_TYPE[kind]) for key, kind in types.items()}
        text = format_record("train", record)
        expected = tomllib.loads(text)["train"][0]
        parsed = parse_chunk(text[:-2])
        assert same(parsed, [("train", expected)]) and list(parsed[0][1]) == list(expected)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(ANY_KEYS, VALUES, max_size=6))
def test_any_record_reads_back_exactly_as_tomllib_reads_it(record):
    text = format_record("eval", record)
    expected = tomllib.loads(text)["eval"][0]
    assert same(expected, record)
    assert same(parse_chunk(text[:-2]), [("eval", expected)])


VALUE_TEXT = st.text("0123456789.-+eE_xobinfatrusl\"'\\ \t#[]{},é", max_size=10)


@settings(max_examples=1000, deadline=None)
@given(VALUE_TEXT)
def test_hand_written_values_are_read_as_tomllib_reads_them_or_refused(value):
    chunk = f"[[t]]\nk = {value}"
    try:
        expected = [("t", row) for row in tomllib.loads(chunk)["t"]]
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        expected = None
    if expected is None:
        assert parse_chunk(chunk) is None
    else:
        assert same(parse_chunk(chunk), expected)


@pytest.mark.parametrize(
    "chunk, expected",
    [
        ("[[t]]\nk = 01", None),  # leading zero: not TOML
        ("[[t]]\nk = 1.", None),
        ("[[t]]\nk = .5", None),
        ("[[t]]\nk = 1_000", [("t", {"k": 1000})]),  # TOML but not ours: tomllib reads it
        ("[[t]]\nk = 1E5", [("t", {"k": 1e5})]),
        ("[[t]]\nk = +inf", [("t", {"k": math.inf})]),
        ("[[t]]\nk = 1\nk = 2", None),  # repeated key
        ("[[t]]\nk = null", None),
        ("[[t]]\nk = 1 # a comment", [("t", {"k": 1})]),
        ("[[a]]\nx = 1\n[[b]]\ny = 2", [("a", {"x": 1}), ("b", {"y": 2})]),
        ("k = 1", None),  # not inside a [[table]]
        ("# only a comment", []),
    ],
)
def test_chunks_outside_the_fast_path_are_judged_by_tomllib(chunk, expected):
    assert parse_chunk(chunk) == expected


# --- appending and torn tails ----------------------------------------------------------------

RECORD_1 = "[[train]]\nstep = 1\n\n"
PARTIAL = "[[train]]\nstep = 2\nlo"


@pytest.mark.parametrize(
    "before, cut",
    [
        ("", 0),
        (RECORD_1, 0),
        (RECORD_1 + PARTIAL, len(PARTIAL)),
        (RECORD_1 + "[[train]]\n", len("[[train]]\n")),  # torn after its header: no field survived
        (PARTIAL, len(PARTIAL)),
        ("\n", 1),
        ("x" * 200_000, 200_000),  # longer than one backwards-search block
        (RECORD_1 + "x" * 200_000, 200_000),
    ],
)
def test_append_cuts_a_torn_tail_back_to_the_last_complete_record(tmp_path, before, cut):
    path = tmp_path / "metrics.toml"
    path.write_text(before)
    with AppendLog(path) as log:
        log.append("train", {"step": 9})
        assert log.cut_bytes == cut
    assert path.read_text() == before[: len(before) - cut] + "[[train]]\nstep = 9\n\n"
    if cut and before.strip():  # what was cut is kept beside the log, never thrown away
        assert rejected_path(path).read_text().rstrip("\n") == before[len(before) - cut :].rstrip("\n")


@pytest.mark.parametrize(
    "before",
    [
        RECORD_1 + "[[train]]\nstep = 2\n",  # an editor trimmed the blank line
        RECORD_1 + "[[train]]\nstep = 2",  # ... and the last newline
        RECORD_1 + "[[train]]\nstep = 2\n\n"[:-1],
    ],
)
def test_append_keeps_a_whole_last_record_that_lost_its_blank_line(tmp_path, before):
    path = tmp_path / "metrics.toml"
    path.write_text(before)
    with AppendLog(path) as log:
        log.append("train", {"step": 9})
        assert log.cut_bytes == 0
    assert [r["step"] for _, r in read_records(path)] == [1, 2, 9]
    assert not rejected_path(path).exists()


TRIMMED_LOG = "".join(
    format_record(t, {"step": s, "loss": 1.0 / s})
    for s in range(1, 6)
    for t in ("train", "eval")
    if t == "train" or s % 2 == 0
)
EXPECTED = [
    (t, {"step": s, "loss": 1.0 / s}) for s in range(1, 6) for t in ("train", "eval") if t == "train" or s % 2 == 0
]


@pytest.mark.parametrize(
    "text",
    [
        TRIMMED_LOG,
        TRIMMED_LOG.rstrip("\n"),  # trailing blank line and newline trimmed
        TRIMMED_LOG.rstrip("\n") + "\n",
        TRIMMED_LOG.replace("\n\n", "\n"),  # no blank line anywhere
        TRIMMED_LOG.replace("\n\n", "\n").rstrip("\n"),
        TRIMMED_LOG.replace("\n\n", "\n\n\n\n"),  # extra blank lines between records
        TRIMMED_LOG.replace("]]\n", "]]\n\n"),  # a blank line inside every record
        TRIMMED_LOG.replace(" = ", "=").replace("[[", "# a comment\n[["),  # reformatted, commented
        TRIMMED_LOG.replace("\n", "\r\n"),  # CRLF line ends
    ],
)
def test_a_trimmed_or_reformatted_log_keeps_every_record_in_order(tmp_path, text):
    path = tmp_path / "metrics.toml"
    path.write_text(text, newline="")
    read = read_log(path)
    assert read.records == EXPECTED and read.skipped == 0 and read.torn_bytes == 0
    append_record(path, "train", {"step": 6, "loss": 1.0 / 6})
    assert read_records(path) == EXPECTED + [("train", {"step": 6, "loss": 1.0 / 6})]
    assert not rejected_path(path).exists()


def test_a_live_tail_takes_a_record_without_its_blank_line_once_the_file_is_still(tmp_path):
    path = tmp_path / "metrics.toml"
    path.write_text(RECORD_1 + "[[train]]\nstep = 2\n")
    tail = LogTail(path)
    assert tail.poll() == [("train", {"step": 1})]  # just written: it may be half of a write
    old = path.stat().st_mtime - 10
    os.utime(path, (old, old))
    assert tail.poll() == [("train", {"step": 2})]
    assert tail.poll() == []
    append_record(path, "train", {"step": 3})
    assert tail.poll() == [("train", {"step": 3})]
    assert [r["step"] for _, r in read_records(path)] == [1, 2, 3]


def test_a_torn_tail_is_ignored_by_readers_until_the_next_append_cuts_it(tmp_path):
    path = tmp_path / "metrics.toml"
    path.write_text(RECORD_1 + PARTIAL)
    read = read_log(path)
    assert read.records == [("train", {"step": 1})]
    assert read.torn_bytes == len(PARTIAL) and read.skipped == 0
    append_record(path, "train", {"step": 2})
    assert read_records(path) == [("train", {"step": 1}), ("train", {"step": 2})]


def test_a_garbage_chunk_in_the_middle_is_skipped_and_counted(tmp_path):
    path = tmp_path / "metrics.toml"
    path.write_bytes(b"[[t]]\na = 1\n\nnot = [toml\n\n\xff\xfe\n\n[[t]]\na = 2\n\n")
    read = read_log(path)
    assert read.records == [("t", {"a": 1}), ("t", {"a": 2})]
    assert read.skipped == 2


def test_reading_a_missing_log_gives_no_records(tmp_path):
    assert read_log(tmp_path / "none.toml").records == []
    assert read_records(tmp_path / "none.toml") == []


def test_an_append_log_appends_in_order_and_creates_the_file_without_world_write(tmp_path):
    path = tmp_path / "metrics.toml"
    old = os.umask(0)
    try:
        with AppendLog(path) as log:
            for step in range(5):
                log.append("train", {"step": step, "loss": 1.0 / (step + 1)})
            log.append("eval", {"step": 4, "val_loss": 0.5})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    records = read_records(path)
    assert [t for t, _ in records] == ["train"] * 5 + ["eval"]
    assert [r["step"] for _, r in records] == [0, 1, 2, 3, 4, 4]


def test_two_open_append_logs_on_one_file_interleave_whole_records(tmp_path):
    path = tmp_path / "results.toml"
    with AppendLog(path) as a, AppendLog(path) as b:
        for i in range(10):
            a.append("run", {"writer": "a", "i": i})
            b.append("run", {"writer": "b", "i": i})
        with open(path, "a") as raw:  # a writer that died mid-record
            raw.write("[[run]]\nwriter = ")
        a.append("run", {"writer": "a", "i": 10})
    rows = [r for _, r in read_records(path)]
    assert len(rows) == 21 and rows[-1] == {"writer": "a", "i": 10}


# --- the tail reader -------------------------------------------------------------------------


def test_a_tail_returns_each_record_once_as_it_is_appended(tmp_path):
    path = tmp_path / "metrics.toml"
    tail = LogTail(path)
    assert tail.poll() == []  # no file yet
    append_record(path, "train", {"step": 1})
    append_record(path, "train", {"step": 2})
    assert tail.poll() == [("train", {"step": 1}), ("train", {"step": 2})]
    assert tail.poll() == []
    append_record(path, "eval", {"step": 2, "val_loss": 1.5})
    assert tail.poll() == [("eval", {"step": 2, "val_loss": 1.5})]
    assert not tail.reset


def test_a_tail_holds_back_a_half_written_record_until_it_is_complete(tmp_path):
    path = tmp_path / "metrics.toml"
    text = format_record("train", TRAIN)
    tail = LogTail(path)
    with open(path, "w") as file:
        for cut in (0, 5, 9, 10, len(text) - 1):
            file.write(text[file.tell() : cut])
            file.flush()
            assert tail.poll() == []
        file.write(text[len(text) - 1 :])
    assert tail.poll() == [("train", TRAIN)]
    assert tail.poll() == []


def test_a_tail_starts_over_when_the_log_is_truncated(tmp_path):
    path = tmp_path / "metrics.toml"
    for step in range(3):
        append_record(path, "train", {"step": step})
    tail = LogTail(path)
    assert len(tail.poll()) == 3
    with open(path, "r+") as file:
        file.truncate(0)
    append_record(path, "train", {"step": 0})
    assert tail.poll() == [("train", {"step": 0})]
    assert tail.reset
    assert tail.poll() == [] and not tail.reset


def test_a_tail_starts_over_when_the_log_is_replaced(tmp_path):
    path = tmp_path / "metrics.toml"
    for step in range(3):
        append_record(path, "train", {"step": step})
    tail = LogTail(path)
    tail.poll()
    replacement = tmp_path / "new.toml"
    for step in range(5):  # longer than before: only the inode tells
        append_record(replacement, "train", {"step": step, "resumed": True})
    os.replace(replacement, path)
    records = tail.poll()
    assert tail.reset and [r["step"] for _, r in records] == [0, 1, 2, 3, 4]


def test_a_tail_reads_only_the_new_bytes(tmp_path, monkeypatch):
    path = tmp_path / "metrics.toml"
    for step in range(1000):
        append_record(path, "train", {**TRAIN, "step": step})
    tail = LogTail(path)
    assert len(tail.poll()) == 1000
    sizes: list[int] = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: sizes.append(n) or real_pread(fd, n, off))
    append_record(path, "train", {**TRAIN, "step": 1000})
    assert tail.poll() == [("train", {**TRAIN, "step": 1000})]
    assert sizes[-1] == len(format_record("train", {**TRAIN, "step": 1000}))


def test_a_tail_of_a_log_that_disappears_returns_nothing(tmp_path):
    path = tmp_path / "metrics.toml"
    append_record(path, "train", {"step": 1})
    tail = LogTail(path)
    tail.poll()
    Path(path).unlink()
    assert tail.poll() == []
