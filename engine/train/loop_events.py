"""What the training loop reports and how it ends early, and the device it picks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.core.config import DeviceCaps, RunConfig
from engine.data.token_space import TokenSpace


class Diverged(Exception):
    """The loss became non-finite, or worse than a uniform guess twice over (2 * ln V)."""

    def __init__(self, step: int, value: float, limit: float) -> None:
        why = "non-finite" if not math.isfinite(value) else f"above {limit:.2f} (2 x ln vocab, worse than guessing)"
        super().__init__(f"loss {value:.4g} at step {step} is {why}; lower learning_rate or turn on grad_clip")
        self.step, self.value = step, value


class StopRequested(Exception):
    """A stop request or a signal ended the loop after a checkpoint."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"stopped at step {step}: {reason}")
        self.step, self.reason = step, reason


def pick_device(c: RunConfig) -> torch.device:
    if c.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(c.device)


def torch_caps() -> DeviceCaps:
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return DeviceCaps(
        cuda_count=n,
        cuda_bf16=bool(n) and torch.cuda.is_bf16_supported(),
        mps=bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    )


def sample_batch(
    data: TokenSpace | np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator
) -> np.ndarray:
    """`batch_size` windows of block_size + 1 tokens at random offsets (inputs and shifted targets),
    drawn over a split's concatenated shards: the same windows however the tokens are sharded."""
    space = TokenSpace.of(data)
    starts = rng.integers(0, len(space) - block_size, size=batch_size)
    return space.windows(starts, block_size + 1)


@dataclass
class Events:
    """What the loop reports, as callables: the worker writes them to the store; benchmarks ignore them."""

    on_train: Callable[[dict[str, Any]], None] = lambda r: None
    on_eval: Callable[[dict[str, Any]], None] = lambda r: None
    on_progress: Callable[[dict[str, Any]], None] = lambda s: None
    should_stop: Callable[[], str | None] = lambda: None
