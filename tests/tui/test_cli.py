"""The `gpt-tui` command as a person runs it: real subprocesses, exit codes, the store untouched on errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import runs as st

ROOT = Path(__file__).resolve().parents[2]


# A tiny run of the quickstart preset, as command-line arguments.
TINY = [
    "--preset",
    "quickstart",
    "--set",
    "n_layer=1",
    "--set",
    "n_embd=32",
    "--set",
    "n_head=2",
    "--set",
    "block_size=32",
    "--set",
    "max_iters=30",
    "--set",
    "eval_interval=10",
    "--set",
    "eval_iters=2",
    "--set",
    "threads=1",
    "--set",
    "warmup_iters=5",
]


def gpt_tui(*args: str, store: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "160", **env}
    if store is not None:
        full_env["GPT_TUI_RUNS"] = str(store)
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def tree(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"" for p in sorted(path.rglob("*"))}


def test_estimate_prints_the_seed_deeper_numbers():
    out = gpt_tui("estimate", "--preset", "seed-deeper", "--tokens-per-s", "10000")
    assert out.returncode == 0, out.stderr
    # wte 50304*768 + wpe 512*768 + 16 blocks of 7,079,424 + ln_f 768
    assert "152,298,240" in out.stdout
    assert "at 10,000 tokens/s" in out.stdout
    assert "32 (8x4)" in out.stdout and "16,384" in out.stdout  # tokens per iteration 8*4*512
    assert "memory bfloat16" in out.stdout and "time on one H100" in out.stdout


def test_estimate_of_a_char_model_counts_the_builtin_vocabulary(tmp_path):
    out = gpt_tui("--runs", str(tmp_path / "runs"), "estimate", "--preset", "quickstart", "--set", "n_layer=2")
    assert out.returncode == 0, out.stderr
    assert "vocab 103 (char)" in out.stdout
    assert not (tmp_path / "runs").exists()  # estimating writes nothing


@pytest.mark.parametrize(
    "args,words",
    [
        (["estimate", "--set", "batch_size=12x4"], "gradient_accumulation_steps=4"),
        (["estimate", "--set", "lerning_rate=1e-3"], "did you mean 'learning_rate'"),
        (["estimate", "--set", "n_head=5", "--set", "dropout=2"], "2 problem(s)"),
        (["estimate", "--preset", "seed-basline"], "did you mean 'seed-baseline'"),
        (["estimate", "--tokens-per-s", "-5"], "--tokens-per-s must be above 0"),
        (["train", "--set", "n_head=5"], "divisible by n_head"),
        (["train", "--config", "missing.toml"], "cannot read"),
        (["sample", "../escape"], "run id"),
        (["sample", "no-such-run"], "no run"),
        (["frobnicate"], "unknown command 'frobnicate'"),
    ],
)
def test_bad_input_gives_a_clear_message_a_non_zero_exit_and_leaves_the_store_alone(tmp_path, args, words):
    store = tmp_path / "runs"
    st.Store(store).ensure()
    (store / "results.toml").write_text("")
    before = tree(store)
    out = gpt_tui(*args, store=store)
    assert out.returncode == 2
    assert words in " ".join(out.stderr.split()), out.stderr  # however the store's path made it wrap
    assert tree(store) == before


def test_broken_config_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("n_layer = = 3\n")
    out = gpt_tui("estimate", "--config", str(bad))
    assert out.returncode == 2 and "bad.toml" in out.stderr and "not valid TOML" in out.stderr


def test_config_command_writes_a_file_that_round_trips(tmp_path):
    target = tmp_path / "mine.toml"
    out = gpt_tui("config", "--preset", "seed-baseline", "--set", "n_layer=16", "--out", str(target))
    assert out.returncode == 0, out.stderr
    back = gpt_tui("config", "--config", str(target))
    assert back.stdout == target.read_text() and "n_layer = 16" in back.stdout


def test_fields_and_presets_list_everything():
    from engine.core.config import FIELDS
    from engine.core.presets import PRESETS

    fields = gpt_tui("fields").stdout
    assert all(name in fields for name in FIELDS)
    presets = gpt_tui("presets").stdout
    assert all(name in presets for name in PRESETS)


@pytest.mark.slow
def test_train_then_sample_from_the_command_line(tmp_path):
    store = tmp_path / "runs"
    out = gpt_tui(
        "train",
        *TINY,
        "--name",
        "cli test",
        store=store,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (run_id,) = st.Store(store).list_runs()
    assert "cli-test" in run_id and "done" in out.stdout and "final val PPL" in out.stdout
    sample = gpt_tui("sample", run_id, "--prompt", "The ", "--tokens", "40", "--temperature", "0", store=store)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("The ") and len(sample.stdout) >= 40
    again = gpt_tui("sample", run_id, "--prompt", "The ", "--tokens", "40", "--temperature", "0", store=store)
    assert again.stdout == sample.stdout  # greedy decoding is deterministic
    bad = gpt_tui("sample", run_id, "--tokens", "0", store=store)
    assert bad.returncode == 2 and "--tokens must be at least 1" in bad.stderr
