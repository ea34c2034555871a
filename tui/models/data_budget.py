"""How much data a config has for its size and how often it sees it: tokens per parameter and epochs,
from the prepared dataset's real token count, with the warnings the editor and `gpt-tui estimate` show."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from engine.core import config as cfgmod
from engine.core import estimate as est

# Below this many training tokens per parameter a model has more capacity than data to fill it
# (Chinchilla trains at ~20); above this many epochs it has seen each token so often it overfits.
MIN_TOKENS_PER_PARAM = 1.0
MAX_EPOCHS = 10.0
NOT_PREPARED = "prepare the dataset to see tokens/param and epochs"


@dataclass(frozen=True)
class DataBudget:
    params: int
    run_tokens: int  # max_iters × tokens per iteration: what the run reads
    train_tokens: int  # the prepared train split's tokens

    @property
    def tokens_per_param(self) -> float:
        return self.train_tokens / self.params if self.params else 0.0

    @property
    def epochs(self) -> float:
        return self.run_tokens / self.train_tokens if self.train_tokens else float("inf")

    def warnings(self) -> list[tuple[str, str]]:
        """Each warning as (what, what to do)."""
        out = []
        if self.tokens_per_param < MIN_TOKENS_PER_PARAM:
            out.append(
                (
                    f"{self.tokens_per_param:.2g} tokens/param, below {MIN_TOKENS_PER_PARAM:g}",
                    "the model can memorise its data: use more data or a smaller model",
                )
            )
        if self.epochs > MAX_EPOCHS:
            out.append(
                (
                    f"{self.epochs:,.1f} epochs, above {MAX_EPOCHS:g}",
                    "the run sees each token that often and will overfit: fewer iterations or more data",
                )
            )
        return out


def budget(cfg: cfgmod.RunConfig, vocab: int, train_tokens: int) -> DataBudget:
    return DataBudget(est.param_count(cfg, vocab), cfg.max_iters * est.tokens_per_iter(cfg), train_tokens)


def prepared_train_tokens(cfg: cfgmod.RunConfig, datasets_dir: Path) -> int | None:
    """The train split's tokens of `cfg`'s dataset as prepared in `datasets_dir`; None when it is not
    prepared yet (or cannot be read). Off the UI thread: finding the folder fingerprints the source
    (its bytes, up to a GB), so the answer is kept until the source or the datasets folder changes,
    not worked out again at every keystroke of the editor."""
    try:
        folder = datasets_dir.stat().st_mtime_ns  # a dataset prepared or deleted since changes it
    except OSError:
        return None
    return _prepared_train_tokens(cfg.dataset, cfg.tokenizer, cfg.text_field, datasets_dir, folder, _stamp(cfg.dataset))


def _stamp(dataset: str) -> tuple[int, int] | None:
    try:
        info = os.stat(dataset)
    except (OSError, ValueError):  # pydocs, hf:NAME, a path that is not there
        return None
    return info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=32)
def _prepared_train_tokens(
    dataset: str, tokenizer: str, text_field: str, datasets_dir: Path, folder: int, source: tuple[int, int] | None
) -> int | None:
    from engine.data import prepare as data  # numpy: loaded when first asked for

    try:
        return data.prepared_tokens(dataset, tokenizer, datasets_dir, text_field)
    except (OSError, ValueError, KeyError, data.DataError):
        return None
