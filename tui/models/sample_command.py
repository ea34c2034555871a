"""The sampler's command line: the app and `gpt-tui sample` run the same `python -m engine.train.sample`
in a subprocess, so neither imports torch."""

from __future__ import annotations

import sys


def sample_command(
    run_dir: str, prompt: str, tokens: int, temperature: float, top_k: int, checkpoint: str, seed: int | None = None
) -> list[str]:
    cmd = [sys.executable, "-m", "engine.train.sample", run_dir, "--prompt", prompt, "--tokens", str(tokens)]
    cmd += ["--temperature", str(temperature), "--top-k", str(top_k), "--checkpoint", checkpoint]
    return cmd if seed is None else [*cmd, "--seed", str(seed)]
