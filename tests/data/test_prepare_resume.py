"""Preparation as processes meet it: SIGKILLed part-way it resumes to the same bytes, and two trials
that start on one unprepared source prepare it once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.data.build import FAULT_ENV
from engine.data.locks import dataset_lock
from engine.data.prepare import dataset_key, prepare
from engine.data.shards import SHARD_ENV, read_progress
from engine.data.sources import open_source

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Prepares argv[1] with tokenizer argv[2] into argv[3]; each report appends this pid to argv[4].
PREPARE = """
import os, sys
from engine.data.prepare import prepare

def seen(progress, log=sys.argv[4]):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")

print(prepare(sys.argv[1], sys.argv[2], sys.argv[3], on_progress=seen).dir)
"""


def run_prepare(source: Path, datasets: Path, log: Path, env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-c", PREPARE, str(source), "byte", str(datasets), str(log)]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)


def corpus(tmp_path: Path, kind: str) -> Path:
    lines = [f"document {i}: " + "a quick brown fox jumps over the lazy dog. " * (i % 4 + 1) for i in range(700)]
    if kind == "jsonl":
        path = tmp_path / "docs.jsonl"
        path.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines))
    else:
        path = tmp_path / "docs.txt"
        path.write_text("\n".join(lines))
    return path


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "meta.toml"}


@pytest.mark.parametrize("kind", ["jsonl", "text"])
def test_a_killed_preparation_resumes_to_the_same_shards(tmp_path, monkeypatch, kind):
    source = corpus(tmp_path, kind)
    monkeypatch.setenv(SHARD_ENV, "10000")  # ~10 shards of ~100 KB of text
    killed = run_prepare(source, tmp_path / "ds", tmp_path / "log", {FAULT_ENV: "kill@7"})
    assert killed.wait(60) == -9
    (partial,) = (tmp_path / "ds").glob(".partial-*")
    recorded = read_progress(partial)
    assert recorded["state"] == "tokenizing" and len(recorded["train"]["complete"]) >= 1
    open_shard = partial / f"train-{len(recorded['train']['complete']):05d}.bin"
    assert open_shard.stat().st_size > 2 * recorded["train"]["open"]  # written after the record: cut back
    reports = []
    resumed = prepare(str(source), "byte", tmp_path / "ds", on_progress=reports.append)
    assert reports[0].shards >= 1 and reports[0].tokens > 0  # it went on from the record
    whole = prepare(str(source), "byte", tmp_path / "fresh")
    assert len(whole.meta["train_shards"]) >= 3
    assert files(resumed.dir) == files(whole.dir)
    assert {**resumed.meta, "prepared": ""} == {**whole.meta, "prepared": ""}
    assert not list((tmp_path / "ds").glob(".*"))  # no partial folder, no lock file left


def waiting_on(lock: Path) -> int:
    """How many processes wait for an flock on `lock` (Linux's /proc/locks marks waiters with ->)."""
    inode = str(os.stat(lock).st_ino)
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and any(f.endswith(f":{inode}") for f in line.split()))


def test_two_trials_on_one_unprepared_source_prepare_it_once(tmp_path):
    source = corpus(tmp_path, "jsonl")
    datasets = tmp_path / "ds"
    datasets.mkdir()
    found = open_source(str(source))
    key = dataset_key(found.basename, "byte", found.fingerprint(), 0.1)
    log = tmp_path / "log"
    with dataset_lock(datasets, key):  # both start while the dataset is "being prepared"
        procs = [run_prepare(source, datasets, log, {}) for _ in range(2)]
        deadline = time.time() + 30
        while waiting_on(datasets / f".lock-{key}") < 2 and time.time() < deadline:
            time.sleep(0.05)
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == str(datasets / key)
    preparers = set(log.read_text().split())
    assert len(preparers) == 1 and preparers <= {str(p.pid) for p in procs}
    assert sorted(p.name for p in datasets.iterdir()) == [key]
