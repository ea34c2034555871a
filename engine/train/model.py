"""The GPT: GPT-2's architecture in nanoGPT's shape, built from a RunConfig and a vocabulary size.

The token embedding has `padded_vocab(vocab_size)` rows (faster matmuls); the padding ids never
appear in data, and sampling never picks them. The LM head shares the token embedding's weight.

With parametrization = "mup" the model follows µP as "The Practitioner's Guide to the Maximal Update
Parameterization" (Dey et al., EleutherAI/Cerebras 2024) sums it up in its Table 1, with the width
multiplier m = n_embd / mup_base_width: hidden matrices start at std/√m and learn at lr/m, attention
logits are scaled by 1/d_head, the logits by mup_output_alpha/m and the embedding output by
mup_input_alpha. Embeddings, LayerNorms and biases keep SP's init and learning rate. At m = 1 with both
alphas 1, µP differs from SP in the attention scale alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn
from torch.nn import functional as F

from engine.core.config import RunConfig
from engine.core.estimate import padded_vocab

# µP's "hidden" weights: the matrices whose fan-in and fan-out both grow with n_embd.
HIDDEN_WEIGHTS = ("c_attn.weight", "c_fc.weight", "c_proj.weight")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        # µP (guide, Table 1, attention logits): once training aligns q and k, q·k grows like d_head,
        # not like its square root, so µP divides by d_head. None is SDPA's own 1/√d_head: SP unchanged.
        self.scale = 1.0 / (cfg.n_embd // cfg.n_head) if cfg.parametrization == "mup" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True, scale=self.scale
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: RunConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = cfg
        self.vocab_size = vocab_size
        self.block_size = cfg.block_size
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(padded_vocab(vocab_size), cfg.n_embd),
                wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
                drop=nn.Dropout(cfg.dropout),
                h=nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
                ln_f=nn.LayerNorm(cfg.n_embd, bias=cfg.bias),
            )
        )
        self.lm_head = nn.Linear(cfg.n_embd, padded_vocab(vocab_size), bias=False)
        # Tied: one matrix, counted once. µP keeps the tie, as the guide's nanoGPT-mup does: its Table 1
        # gives the embedding and the unembedding the same init (std) and learning rate, and tells them
        # apart only by forward multipliers, which act on activations and leave the shared weight alone.
        self.lm_head.weight = self.transformer.wte.weight
        mup = cfg.parametrization == "mup"
        m = cfg.width_multiplier  # 1 under SP
        # µP (guide, Table 1): the embedding output times alpha_input, the logits times alpha_output/m
        # (once training correlates the head's n_embd inputs with its weights' updates, its raw output
        # grows like the width). 1.0 under SP.
        self.input_scale = cfg.mup_input_alpha if mup else 1.0
        self.output_scale = cfg.mup_output_alpha / m if mup else 1.0
        # µP (guide, Table 1, hidden weights, Adam): an update of fixed size per entry moves a hidden
        # activation m times more at m times the width, so hidden matrices learn at lr/m.
        self.hidden_lr_scale = 1.0 / m
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by depth so the residual stream's variance stays put
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
        # µP (guide, Table 1, hidden weights): init variance sigma²/m keeps a hidden layer's output
        # the size it has at the base width. The draws are SP's, scaled, so at m = 1 the weights are
        # SP's to the bit. GPT-2's depth factor on c_proj stays (nanoGPT-mup drops it): it does not
        # depend on width, so µP's transfer across widths is the same with it.
        if m != 1.0:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name.endswith(HIDDEN_WEIGHTS):
                        p.mul_(1.0 / math.sqrt(m))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, the tied head counted once; nanoGPT's non-embedding count drops wpe only."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over the padded vocabulary and the mean cross-entropy over every position when
        `targets` is given; without targets, only the last position's logits (for sampling)."""
        B, T = idx.size()
        if self.block_size < T:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.block_size}")
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        if self.input_scale != 1.0:  # before dropout, which commutes with it: a hook on drop sees it
            x = x * self.input_scale
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if self.output_scale != 1.0:
            # On the head's input, not its output (same logits, the head has no bias): a hook on
            # lm_head sees the logits the loss sees. Sampling sees them too, unlike nanoGPT-mup's
            # generate, so a temperature means the same thing in training and sampling.
            x = x * self.output_scale
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizer(
        self, weight_decay: float, learning_rate: float, betas: tuple[float, float], device_type: str
    ) -> torch.optim.AdamW:
        """AdamW decaying only matrices (weights, embeddings), not biases or LayerNorm gains.

        Each group's `lr_scale` multiplies the schedule's learning rate (the trainer applies it). Under
        µP the hidden matrices are a group of their own at 1/m; under SP the two groups are the ones
        nanoGPT has, so checkpoints from before µP still load."""
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        hidden = [p for n, p in named if n.endswith(HIDDEN_WEIGHTS)] if self.config.parametrization == "mup" else []
        chosen = {id(p) for p in hidden}
        matrices = [p for _, p in named if p.dim() >= 2 and id(p) not in chosen]
        groups = [
            *([{"params": hidden, "weight_decay": weight_decay, "lr_scale": self.hidden_lr_scale}] if hidden else []),
            # Embeddings (the tied head among them), LayerNorms and biases: SP's learning rate under µP too.
            {"params": matrices, "weight_decay": weight_decay, "lr_scale": 1.0},
            {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0, "lr_scale": 1.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=device_type == "cuda")

    @torch.no_grad()
    def stream(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield each new token as it is sampled: a LongTensor of shape (B,), one id per row.

        The context is cropped to the last block_size tokens. temperature 0 picks the most likely
        token; top_k keeps only the k most likely before sampling."""
        for _ in range(max_new_tokens):
            context = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size :]
            logits, _ = self(context)
            next_id = self._pick(logits[:, -1, : self.vocab_size].float(), temperature, top_k, generator)
            idx = torch.cat((idx, next_id[:, None]), dim=1)
            yield next_id

    @staticmethod
    def _pick(
        logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        if temperature <= 0:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = F.softmax(logits, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, **sampling: Any) -> torch.Tensor:
        """`idx` (B, T) followed by `max_new_tokens` sampled tokens: (B, T + max_new_tokens)."""
        new = list(self.stream(idx, max_new_tokens, **sampling))
        return torch.cat([idx, torch.stack(new, dim=1)], dim=1) if new else idx
