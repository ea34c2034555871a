"""The built-in presets: the seed's three trials, nanoGPT's GPT-2, and a quickstart for a CPU."""

from __future__ import annotations

from typing import Any

_SEED_BASELINE = dict(
    n_layer=12,
    n_head=12,
    n_embd=768,
    block_size=512,
    dropout=0.0,
    bias=False,
    learning_rate=6e-4,
    min_lr=6e-5,
    warmup_iters=200,
    lr_decay_iters=0,
    max_iters=5000,
    weight_decay=0.1,
    beta1=0.9,
    beta2=0.95,
    grad_clip=1.0,
    batch_size=12,
    gradient_accumulation_steps=4,
    dataset="pydocs",
    tokenizer="gpt2",
    eval_interval=250,
    eval_iters=100,
    log_interval=10,
)

PRESETS: dict[str, dict[str, Any]] = {
    # Char-level on the built-in corpus; about two minutes on a 2-core CPU.
    "quickstart": dict(
        n_layer=4,
        n_head=4,
        n_embd=128,
        block_size=128,
        dropout=0.0,
        learning_rate=1e-3,
        min_lr=1e-4,
        warmup_iters=40,
        max_iters=800,
        batch_size=16,
        gradient_accumulation_steps=1,
        dataset="pydocs",
        tokenizer="char",
        eval_interval=100,
        eval_iters=20,
        log_interval=10,
        beta2=0.99,
    ),
    "seed-baseline": _SEED_BASELINE,
    "seed-deeper": {**_SEED_BASELINE, "n_layer": 16, "batch_size": 8, "gradient_accumulation_steps": 4},
    "seed-slow-lr": {**_SEED_BASELINE, "learning_rate": 3e-4, "min_lr": 3e-5},
    # nanoGPT's train_gpt2 defaults (8 GPUs x 5 accumulation there; one GPU x 40 here).
    "gpt2-124m": {
        **_SEED_BASELINE,
        "block_size": 1024,
        "warmup_iters": 2000,
        "lr_decay_iters": 600_000,
        "max_iters": 600_000,
        "gradient_accumulation_steps": 40,
        "eval_interval": 1000,
        "eval_iters": 200,
        "compile": True,
    },
}
