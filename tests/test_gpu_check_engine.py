"""benchmarks/gpu_check.py's run through the engine, in its CPU smoke mode: the code a GPU run takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_gpu_check_trains_a_tiny_run_through_the_engine_reads_it_back_and_stops_the_engine(tmp_path):
    out = tmp_path / "gpu_check.md"
    argv = ["--engine-only", "--cpu-smoke", "--tokenizer", "byte", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    engine = json.loads(out.with_suffix(".json").read_text())["engine"]
    verdicts = {c["name"]: c["verdict"] for c in engine["checks"]}
    assert "FAIL" not in verdicts.values(), verdicts
    for name in ("gpt-tui run --wait", "status.toml state", "memory fields in every [[train]]", "engine stopped"):
        assert verdicts[name] == "PASS", (name, verdicts)
    assert engine["run_id"] and engine["wall_s"] > 0
    assert "PASS  engine stopped" in proc.stdout
    assert (tmp_path / "gpu_check_engine_run" / "metrics.toml").is_file()  # the run's records come back with the report
