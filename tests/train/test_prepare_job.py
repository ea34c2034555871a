"""A dataset preparation as an engine job: the worker prepares a run of kind prepare into datasets/,
writes its progress to status.toml (at most once a second) and ends done with the folder and its
tokens, with no model, checkpoint, metrics or results row; a stop request ends it stopped."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.core import config as cfgmod
from engine.data import prepare as data
from engine.store import control
from engine.store import runs as st
from engine.store.schema import KIND_PREPARE
from engine.train import prepare_job
from engine.train.worker import EXIT_DONE

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Progress:  # a PrepareProgress as the data layer reports it
    source_bytes_done: int
    source_bytes_total: int | None
    tokens: int
    documents: int
    seconds: float
    shards: int


class Recorder:
    """What the job needs of a RunRecorder: status writes and stop requests, kept here."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.writes: list[dict] = []
        self.asked = 0
        self.stop_after = stop_after

    def write_status(self, durable: bool = True, **changes) -> None:
        self.writes.append(changes)

    def should_stop(self) -> str | None:
        self.asked += 1
        return "stop requested" if self.stop_after is not None and self.asked > self.stop_after else None

    def check_run_dir(self) -> None:
        pass


def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"part-{i}.txt").write_text(f"Document {i}: a few words, and a few more.\n\n" * 300)
    return corpus


def test_progress_becomes_bytes_tokens_rates_and_time_left():
    fields = prepare_job.progress_fields(Progress(25_000_000, 100_000_000, 5_000_000, 900, 2.0, 3))
    assert fields["prepare_bytes_done"] == 25_000_000 and fields["prepare_bytes_total"] == 100_000_000
    assert fields["prepare_rate_mb_s"] == pytest.approx(12.5) and fields["prepare_tokens_per_s"] == 2_500_000
    assert fields["prepare_eta_s"] == pytest.approx(6.0)  # 75 MB left at 12.5 MB/s
    unknown = prepare_job.progress_fields(Progress(1000, None, 200, 1, 1.0, 0))
    assert "prepare_bytes_total" not in unknown and "prepare_eta_s" not in unknown


def test_status_is_written_at_most_once_a_second_and_a_stop_request_stops_it():
    rec = Recorder(stop_after=3)
    writer = prepare_job.ProgressWriter(rec)  # type: ignore[arg-type]
    for shard in range(3):
        writer(Progress(shard * 10, 100, shard * 5, shard, 0.1 * (shard + 1), shard))
    assert len(rec.writes) == 1 and rec.writes[0]["prepare_bytes_done"] == 0
    with pytest.raises(prepare_job.StopPreparing, match="stop requested"):
        writer(Progress(40, 100, 20, 4, 0.5, 4))


def test_a_stopped_preparation_keeps_its_shards_and_the_next_attempt_goes_on_from_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_TUI_SHARD_TOKENS", "2000")  # several shards from a small corpus
    store = st.Store(tmp_path / "runs")
    store.ensure()
    cfg = cfgmod.from_mapping({"dataset": str(small_corpus(tmp_path)), "tokenizer": "byte"})
    state, reason, fields = prepare_job.run_in_worker(store, "run", cfg, Recorder(stop_after=4))  # type: ignore[arg-type]
    assert (state, reason) == (st.RunState.STOPPED, "stop requested")
    assert 0 < fields["prepare_bytes_done"] < fields["prepare_bytes_total"]
    assert list(store.datasets_dir.glob(".partial-*/train-*.bin"))  # kept for the next attempt
    again = Recorder()
    state, _, fields = prepare_job.run_in_worker(store, "run", cfg, again)  # type: ignore[arg-type]
    assert state == st.RunState.DONE and fields["prepare_bytes_done"] == fields["prepare_bytes_total"]
    assert again.writes[0]["prepare_tokens"] > 0  # it went on from the shards already written
    fresh = data.prepare(cfg.dataset, "byte", tmp_path / "fresh")
    assert fields["prepare_tokens"] == fresh.meta["tokens"]


@pytest.mark.slow
def test_a_prepare_run_through_the_worker_ends_done_with_its_dataset_and_nothing_else(tmp_path):
    store = st.Store(tmp_path / "runs")
    store.ensure()
    cfg = cfgmod.from_mapping({"dataset": str(small_corpus(tmp_path)), "tokenizer": "byte", "device": "cpu"})
    run_id = control.submit(store, cfg, "prepare-corpus", source="test", kind=KIND_PREPARE)
    store.cancel(next(e for e in store.list_queue() if e.run_id == run_id))  # run here, not by an engine
    store.update_status(run_id, attempts=1)
    worker = [sys.executable, "-m", "engine.worker", str(store.run_dir(run_id)), "--store", str(store.root)]
    with open(store.worker_log(run_id), "ab") as log:
        code = subprocess.run(worker, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode
    status = store.status(run_id)
    assert code == EXIT_DONE, store.worker_log(run_id).read_text()
    assert status.state == st.RunState.DONE and status.kind == KIND_PREPARE
    prepared = data.open_prepared(store.datasets_dir / status.dataset_dir)
    assert status.prepare_tokens == prepared.meta["tokens"] > 0
    assert status.prepare_bytes_done == status.prepare_bytes_total > 0
    assert status.prepare_rate_mb_s > 0 and status.prepare_tokens_per_s > 0
    assert st.read_results(store) == []  # no results row
    assert not store.metrics_path(run_id).exists() and not any(store.ckpt_dir(run_id).glob("*.pt"))
