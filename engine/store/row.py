"""One run's row of the trial table: plain data, read once from its status, config and note. Light."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Row:
    run: str
    name: str
    sweep: str
    trial: int | None
    state: str
    step: int
    max_iters: int
    n_layer: int | None
    n_head: int | None
    n_embd: int | None
    block_size: int | None
    learning_rate: float | None
    batch: str
    params: int | None
    best_val_loss: float | None
    final_val_ppl: float | None
    val_loss: float | None
    tokens_per_s: float | None  # the run's mean: tokens trained / seconds spent training
    duration_s: float | None
    eta_s: float | None  # a running run's alone
    note: str
    reason: str
    created: str
    # A fork's parent and the checkpoint it starts from (parent_step: None until a worker knows it).
    parent: str = ""
    parent_name: str = ""
    parent_step: int | None = None
    parent_ckpt: str = ""
    kind: str = ""  # "lrfind" (an LR range test) or "prepare" (a dataset prepared), else empty: a training run
    lr_suggested: float | None = None  # what an LR range test suggests, once it has ended
    # Preparing a dataset (kind "prepare"): source bytes read of all there are, the read rate, the
    # tokens written so far, and the folder under datasets/ it makes.
    bytes_done: int | None = None
    bytes_total: int | None = None
    mb_per_s: float | None = None
    dataset_tokens: int | None = None
    dataset_dir: str = ""
    hyperparameters: tuple[tuple[str, Any], ...] = ()  # config.toml's known scalars, for swept columns

    def as_dict(self) -> dict[str, Any]:
        """Every field a person reads (not the config copy that swept columns are drawn from)."""
        out = asdict(self)
        del out["hyperparameters"]
        return out

    def hyperparameter(self, name: str) -> Any:
        return dict(self.hyperparameters).get(name)


ROW_FIELDS = tuple(f.name for f in fields(Row) if f.name != "hyperparameters")
