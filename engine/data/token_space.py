"""One split's tokens as a single index space over its shards, memory-mapped, for drawing windows.

A window is addressed by its start in the concatenated tokens, so the data a run draws from
(seed, step, micro) depends on the token stream alone, never on how it was cut into shards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np


class TokenSpace:
    """The concatenation of token arrays (memory maps of shard files, or plain arrays)."""

    def __init__(self, shards: Sequence[np.ndarray]) -> None:
        self.shards = [s for s in shards if len(s)]
        sizes = np.array([len(s) for s in self.shards], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # shard i starts at offsets[i]
        self.dtype = self.shards[0].dtype if self.shards else np.dtype(np.uint16)

    @classmethod
    def of(cls, data: TokenSpace | np.ndarray) -> TokenSpace:
        return data if isinstance(data, TokenSpace) else cls([data])

    @classmethod
    def from_files(cls, paths: Sequence[Path], counts: Sequence[int], dtype: np.dtype) -> TokenSpace:
        """Each shard file mapped read-only; numpy cannot map an empty file, so those are left out."""
        return cls([np.memmap(p, dtype=dtype, mode="r", shape=(n,)) for p, n in zip(paths, counts) if n])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Rows of `length` tokens beginning at each start (int64); a row may straddle shards."""
        starts = np.asarray(starts, dtype=np.int64)
        if len(self.shards) == 1:  # the one-array case indexes exactly as the trainer always has
            return np.asarray(self.shards[0][starts[:, None] + np.arange(length)], dtype=np.int64)
        if len(starts) and (starts.min() < 0 or starts.max() + length > len(self)):
            raise IndexError(f"a window of {length} tokens runs outside the {len(self)} tokens")
        out = np.empty((len(starts), length), dtype=np.int64)
        first = np.searchsorted(self.offsets, starts, side="right") - 1
        for row, (start, shard) in enumerate(zip(starts.tolist(), first.tolist())):
            filled = 0
            while filled < length:  # contiguous slices: a page-local read from each memory map
                local = start + filled - int(self.offsets[shard])
                piece = self.shards[shard][local : local + length - filled]
                out[row, filled : filled + len(piece)] = piece
                filled += len(piece)
                shard += 1
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """All the tokens in one array: for small splits (tests, statistics), never for training."""
        whole = np.concatenate(self.shards) if self.shards else np.zeros(0, dtype=self.dtype)
        return whole if dtype is None else whole.astype(dtype)

    def __iter__(self) -> Iterator[int]:
        for shard in self.shards:
            yield from shard.tolist()

    def __repr__(self) -> str:
        return f"<TokenSpace {len(self):,} tokens in {len(self.shards)} shard(s)>"
