"""µP's coordinate check: how large activations grow over the first training steps, width by width.

The guide ("The Practitioner's Guide to the Maximal Update Parameterization", its coordinate check
section) tests a µP implementation this way: train models that differ only in width for a few steps
at a high learning rate and record the mean |activation| of each layer. Under µP the curves stay
where they are as the width grows; under SP they climb with it. tests/train/test_mup.py and
benchmarks/mup_check.py both run it from here, so the test checks what the picture shows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.core.config import RunConfig
from engine.data.corpus import builtin_corpus_text, char_vocab
from engine.train.model import GPT, HIDDEN_WEIGHTS

# A change to a fresh model and its optimizer before the first step; the tests turn a µP rule off here.
Tweak = Callable[[GPT, torch.optim.Optimizer], None]


@dataclass(frozen=True)
class CoordCheck:
    """The shape every width shares; the width and the parametrization vary."""

    n_layer: int = 2
    n_head: int = 4  # fixed, so d_head grows with the width and the attention scale is exercised
    block_size: int = 32
    batch_size: int = 8
    learning_rate: float = 1e-2  # high: SP's growth with width shows within a few steps
    steps: int = 10
    seeds: tuple[int, ...] = (0, 1)

    def config(self, width: int, parametrization: str, base_width: int) -> RunConfig:
        return RunConfig(
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=width,
            block_size=self.block_size,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            dropout=0.0,
            parametrization=parametrization,
            mup_base_width=base_width if parametrization == "mup" else 0,
        )


def _sp_hidden_init(model: GPT, optimizer: torch.optim.Optimizer) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(HIDDEN_WEIGHTS):
                p.mul_(math.sqrt(model.config.width_multiplier))


def _sp_hidden_lr(model: GPT, optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        group["lr_scale"] = 1.0


def _sp_output_multiplier(model: GPT, optimizer: torch.optim.Optimizer) -> None:
    model.output_scale = model.config.mup_output_alpha


def _sp_attention_scale(model: GPT, optimizer: torch.optim.Optimizer) -> None:
    for block in model.transformer.h:
        block.attn.scale = None


# µP with one rule put back to SP, to show what the check sees without it. The input multiplier is
# not among them: at alpha_input = 1 dropping it changes nothing.
WITHOUT_RULE: dict[str, Tweak] = {
    "hidden init std/√m": _sp_hidden_init,
    "hidden lr/m": _sp_hidden_lr,
    "logits × alpha/m": _sp_output_multiplier,
    "attention 1/d_head": _sp_attention_scale,
}


def coordinate_names(n_layer: int) -> list[str]:
    return ["embedding", *(f"block {i}" for i in range(n_layer)), "logits"]


@functools.cache
def corpus_tokens() -> tuple[np.ndarray, int]:
    """The built-in corpus as char ids, and its vocabulary size: real text, so updates are correlated
    from one step to the next as in training (random tokens would understate the growth)."""
    text = builtin_corpus_text()[:400_000]
    vocab = char_vocab(text)
    ids = {ch: i for i, ch in enumerate(vocab)}
    return np.array([ids[ch] for ch in text], dtype=np.int64), len(vocab)


def coordinates(check: CoordCheck, cfg: RunConfig, seed: int, tweak: Tweak | None = None) -> list[dict[str, float]]:
    """Mean |activation| of each coordinate at each of the first `check.steps` training forwards."""
    tokens, vocab = corpus_tokens()
    torch.manual_seed(seed)
    model = GPT(cfg, vocab)
    optimizer = model.configure_optimizer(0.0, cfg.learning_rate, (cfg.beta1, cfg.beta2), "cpu")
    if tweak is not None:
        tweak(model, optimizer)
    seen: dict[str, float] = {}

    def record(name: str) -> Callable:
        def hook(module, inputs, output) -> None:
            seen[name] = output.detach().abs().mean().item()

        return hook

    modules = [model.transformer.drop, *model.transformer.h, model.lm_head]
    handles = [m.register_forward_hook(record(n)) for m, n in zip(modules, coordinate_names(cfg.n_layer))]
    rng = np.random.default_rng(seed)  # the same batches at every width
    steps = []
    try:
        for _ in range(check.steps):
            starts = rng.integers(0, len(tokens) - cfg.block_size - 1, cfg.batch_size)
            xy = torch.from_numpy(np.stack([tokens[s : s + cfg.block_size + 1] for s in starts]))
            for group in optimizer.param_groups:  # as Trainer.train does
                group["lr"] = cfg.learning_rate * group.get("lr_scale", 1.0)
            _, loss = model(xy[:, :-1], xy[:, 1:])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps.append(dict(seen))
    finally:
        for h in handles:
            h.remove()
    return steps


def coord_check(
    check: CoordCheck, widths: Sequence[int], parametrization: str, tweak: Tweak | None = None
) -> dict[int, list[dict[str, float]]]:
    """Width -> per step, per coordinate, the mean |activation| averaged over the seeds. µP's base is
    the narrowest width, so m runs from 1 to widest / narrowest."""
    out = {}
    for width in widths:
        cfg = check.config(width, parametrization, min(widths))
        runs = [coordinates(check, cfg, seed, tweak) for seed in check.seeds]
        out[width] = [{k: float(np.mean([r[i][k] for r in runs])) for k in runs[0][i]} for i in range(check.steps)]
    return out


def growth(result: dict[int, list[dict[str, float]]], step: int = -1) -> dict[str, float]:
    """Each coordinate at `step` (the last by default), widest over narrowest: about 1 under µP."""
    narrow, wide = result[min(result)][step], result[max(result)][step]
    return {k: wide[k] / narrow[k] for k in narrow}


def worst_spread(result: dict[int, list[dict[str, float]]], first_step: int = 1) -> tuple[float, int, str]:
    """The largest factor between widest and narrowest, either way up, over the coordinates and the
    steps from `first_step` on, with the step and coordinate it is at. Step 0 is left out by default:
    µP's logits start smaller at larger m by design (alpha/m on an unchanged init) and become
    width-independent once the first update has moved them."""
    steps = len(result[min(result)])
    return max(
        (max(r, 1 / r), step, name) for step in range(first_step, steps) for name, r in growth(result, step).items()
    )
