"""Training on a dataset of several shards: a run SIGKILLed part-way resumes bit for bit, since its
windows are drawn from (seed, step, micro) over the shards' concatenated tokens."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from engine.data.prepare import list_prepared
from engine.data.shards import SHARD_ENV
from engine.train.worker import EXIT_DONE
from tests.train.test_worker import new_run, records, run_to_end, start

pytestmark = pytest.mark.slow

SHARDS = {SHARD_ENV: "3000"}  # the worker prepares the corpus into ~10 train shards


def test_a_run_on_shards_resumes_bit_for_bit_after_sigkill(store, tmp_path: Path):
    docs = tmp_path / "docs.jsonl"
    lines = [f"note {i}: " + "shards hold the tokens; windows straddle them. " * (i % 3 + 1) for i in range(300)]
    docs.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines))
    tiny = dict(dataset=str(docs), batch_size=4, max_iters=30, eval_interval=10, eval_iters=2)
    reference = new_run(store, **tiny)
    assert run_to_end(store, reference, env=SHARDS) == EXIT_DONE
    (prepared,) = list_prepared(store.datasets_dir)
    assert len(prepared.meta["train_shards"]) >= 3 and len(prepared.meta["val_shards"]) >= 1

    run_id = new_run(store, **tiny)
    target = random.Random(20260915).randint(12, 27)  # past the first checkpoint (step 10)
    proc = start(store, run_id, env=SHARDS)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        done = records(store, run_id, "train")
        if store.status(run_id).pid == proc.pid and done and done[-1]["step"] >= target:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait(30) == -signal.SIGKILL
    assert run_to_end(store, run_id, env=SHARDS) == EXIT_DONE
    got, want = records(store, run_id, "train"), records(store, reference, "train")
    assert [r["step"] for r in got] == list(range(1, 31))
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    got_eval, want_eval = records(store, run_id, "eval"), records(store, reference, "eval")
    assert [(e["step"], e["val_loss"]) for e in got_eval] == [(e["step"], e["val_loss"]) for e in want_eval]
