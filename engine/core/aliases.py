"""Other names people type for the hyperparameters (nanoGPT's train.py globals, other trainers'
spellings), each mapped to the name gpt-tui uses, so an unknown key gets the right suggestion.

Nothing here is accepted silently: an alias is only ever suggested. Several are ambiguous (`batch`
may mean the micro-batch or the effective batch, `steps` the run's length or the warmup), and a
config written under one name and read under another is how a sweep ends up training something else.
"""

from __future__ import annotations

# alias -> (the field, what to say when the alias could mean something else; "" when it cannot)
ALIASES: dict[str, tuple[str, str]] = {
    "lr": ("learning_rate", ""),
    "peak_lr": ("learning_rate", ""),
    "max_lr": ("learning_rate", ""),
    "min_learning_rate": ("min_lr", ""),
    "final_lr": ("min_lr", ""),
    "bs": ("batch_size", "the micro-batch; the effective batch is batch_size x gradient_accumulation_steps"),
    "batch": ("batch_size", "the micro-batch; the effective batch is batch_size x gradient_accumulation_steps"),
    "micro_batch_size": ("batch_size", ""),
    "micro_batch": ("batch_size", ""),
    "grad_accum": ("gradient_accumulation_steps", ""),
    "grad_accum_steps": ("gradient_accumulation_steps", ""),
    "gradient_accumulation": ("gradient_accumulation_steps", ""),
    "accumulation_steps": ("gradient_accumulation_steps", ""),
    "accum_steps": ("gradient_accumulation_steps", ""),
    "n_heads": ("n_head", ""),
    "num_heads": ("n_head", ""),
    "heads": ("n_head", ""),
    "n_layers": ("n_layer", ""),
    "num_layers": ("n_layer", ""),
    "layers": ("n_layer", ""),
    "depth": ("n_layer", ""),
    "n_embed": ("n_embd", ""),
    "n_embedding": ("n_embd", ""),
    "d_model": ("n_embd", ""),
    "hidden_size": ("n_embd", ""),
    "width": ("n_embd", ""),
    "context_length": ("block_size", ""),
    "context": ("block_size", ""),
    "seq_len": ("block_size", ""),
    "sequence_length": ("block_size", ""),
    "max_seq_len": ("block_size", ""),
    "iters": ("max_iters", ""),
    "max_steps": ("max_iters", ""),
    "steps": ("max_iters", "the run's length; warmup_iters and lr_decay_iters are steps too"),
    "iterations": ("max_iters", ""),
    "warmup": ("warmup_iters", ""),
    "warmup_steps": ("warmup_iters", ""),
    "lr_decay_steps": ("lr_decay_iters", ""),
    "decay_iters": ("lr_decay_iters", ""),
    "wd": ("weight_decay", ""),
    "clip": ("grad_clip", ""),
    "grad_norm_clip": ("grad_clip", ""),
    "max_grad_norm": ("grad_clip", ""),
    "clip_grad": ("grad_clip", ""),
    "eval_every": ("eval_interval", ""),
    "log_every": ("log_interval", ""),
    "data": ("dataset", ""),
    "data_dir": ("dataset", ""),
    "tokeniser": ("tokenizer", ""),
    "encoding": ("tokenizer", ""),
    "torch_compile": ("compile", ""),
    "num_threads": ("threads", ""),
    "n_gpus": ("gpus", ""),
    "num_gpus": ("gpus", ""),
    "drop": ("dropout", ""),
}


def alias_of(name: str, fields) -> tuple[str, str] | None:
    """(the field `name` most likely means, a caveat or "") for an alias or a field spelt in another
    case (the lesson's LEARNING_RATE, BATCH_SIZE); None when `name` is neither."""
    key = name.strip().lower().replace("-", "_")
    if key in fields and key != name:
        return key, ""
    return ALIASES.get(key)
