"""Batches drawn from prepared token files: seeded, so that a resumed run draws the same data."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data.corpus import DataError
from engine.data.token_space import TokenSpace


def make_rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A plain dict (its ints exceed 64 bits: fine for torch.save, not for TOML)."""
    return rng.bit_generator.state


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    bit_generator = np.random.PCG64()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def get_batch(
    tokens: TokenSpace | np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`batch_size` random windows: x is tokens[i:i+block_size], y the same shifted by one (int64).

    The draw depends only on the RNG's state, so a run resumed with a restored RNG sees the same
    batches."""
    if len(tokens) < block_size + 1:
        raise DataError(
            f"the split has {len(tokens)} tokens, fewer than block_size+1={block_size + 1}; "
            "use a smaller block_size or more text"
        )
    starts = rng.integers(0, len(tokens) - block_size, size=batch_size)
    rows = TokenSpace.of(tokens).windows(starts, block_size + 1)
    return np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:])


class Batches:
    """Random batches from a prepared dataset's splits, each split's shards mapped once."""

    def __init__(self, dataset: Any) -> None:  # a PreparedDataset
        self.dataset = dataset
        self._splits = {split: dataset.tokens(split) for split in ("train", "val")}

    def get_batch(
        self, split: str, batch_size: int, block_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return get_batch(self._splits[split], batch_size, block_size, rng)
