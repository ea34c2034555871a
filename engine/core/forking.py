"""What a fork may change: the fields a checkpoint fixes, each with why (pure)."""

from __future__ import annotations

from engine.core.fields import Problem, RunConfig

# The checkpoint's tensors have these shapes, or its weights mean tokens of this vocabulary.
FIXED_FIELDS: dict[str, str] = {
    "n_layer": "the checkpoint holds this many blocks",
    "n_head": "the attention heads split the checkpoint's weights this way",
    "n_embd": "the checkpoint's weights have this width",
    "block_size": "the checkpoint's position embedding has this many positions",
    "bias": "the checkpoint has (or lacks) these bias tensors",
    "tokenizer": "the checkpoint's embeddings are for this vocabulary",
    "dataset": "the tokens, their vocabulary and the data order the checkpoint was trained on",
    "text_field": "the checkpoint was trained on the text of this field",
    "parametrization": "the checkpoint's optimizer state has this parametrization's parameter groups",
    "mup_base_width": "the checkpoint's optimizer groups carry learning-rate scales for this base width",
}

CHECKPOINTS = ("last", "best")  # and a kept step: `step-<N>`


def fork_problems(parent: RunConfig, child: RunConfig) -> list[Problem]:
    """Each fixed field the child changes, naming its value in the checkpoint and why it stays."""
    problems = []
    for name, why in FIXED_FIELDS.items():
        before, after = getattr(parent, name), getattr(child, name)
        if before != after:
            problems.append(
                Problem(name, f"a fork keeps {before!r} (asked for {after!r}): {why}; start a new run to change it")
            )
    return problems


def checkpoint_name(source: str) -> str:
    """The file under ckpt/ for `--from last|best|STEP`; ValueError says what is accepted."""
    source = source.strip()
    if source in CHECKPOINTS:
        return f"{source}.pt"
    if source.isdigit():
        return f"step-{int(source)}.pt"
    raise ValueError(f"--from takes last, best or a step number, got {source!r}")
