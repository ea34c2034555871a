"""µP as the model applies it: each rule at m = 1 and m = 4, SP untouched, and the coordinate check
that catches a dropped rule (the two it cannot see at these widths are pinned directly here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from engine.core.config import RunConfig
from engine.train.coord_check import WITHOUT_RULE, CoordCheck, coord_check, growth, worst_spread
from engine.train.model import GPT, HIDDEN_WEIGHTS
from engine.train.trainer import Trainer

VOCAB = 64
BASE = RunConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True)


def mup(m: int = 1, **changes) -> RunConfig:
    """µP with base width 32, at width 32·m."""
    return BASE.replace(parametrization="mup", n_embd=32 * m, mup_base_width=32, **changes)


def built(cfg: RunConfig, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg, VOCAB)


def is_hidden(name: str) -> bool:
    return name.endswith(HIDDEN_WEIGHTS)


def lr_of_each_parameter(model: GPT, lr: float = 1e-2) -> dict[str, float]:
    """The learning rate each parameter trains at, as Trainer.train sets it from the groups."""
    opt = model.configure_optimizer(0.1, lr, (0.9, 0.99), "cpu")
    by_id = {id(p): lr * g.get("lr_scale", 1.0) for g in opt.param_groups for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.named_parameters()}


def tokens(n: int = 2, t: int = 16) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, t), generator=torch.Generator().manual_seed(1))


# -- m = 1: µP is SP but for the attention scale ------------------------------------------------


def test_at_m_1_mup_draws_the_same_weights_as_sp():
    sp, mu = built(BASE), built(mup(1))
    assert mu.config.width_multiplier == 1.0
    for (name, a), (_, b) in zip(sp.state_dict().items(), mu.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_at_m_1_every_parameter_trains_at_sps_learning_rate():
    assert lr_of_each_parameter(built(mup(1))) == lr_of_each_parameter(built(BASE))


def test_at_m_1_the_logits_differ_from_sp_by_the_attention_scale_alone():
    sp, mu = built(BASE), built(mup(1))
    x = tokens()
    assert not torch.allclose(sp(x, x)[0], mu(x, x)[0])
    for block in mu.transformer.h:
        block.attn.scale = None  # SDPA's 1/sqrt(d_head), SP's
    assert torch.equal(sp(x, x)[0], mu(x, x)[0])


def test_sp_leaves_nanogpt_as_it_was():
    model = built(BASE)
    assert (model.input_scale, model.output_scale) == (1.0, 1.0)
    assert all(block.attn.scale is None for block in model.transformer.h)
    groups = model.configure_optimizer(0.1, 1e-3, (0.9, 0.99), "cpu").param_groups
    assert [g["lr_scale"] for g in groups] == [1.0, 1.0]  # nanoGPT's two groups: old checkpoints load


# -- the rules, at m = 1 and m = 4 ---------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 4])
def test_hidden_matrices_learn_at_lr_over_m_and_the_rest_at_lr(m):
    model = built(mup(m))
    lrs = lr_of_each_parameter(model, lr=1e-2)
    assert {n for n in lrs if is_hidden(n)} == {
        f"transformer.h.{i}.{w}" for i in range(2) for w in ("attn.c_attn.weight", "attn.c_proj.weight")
    } | {f"transformer.h.{i}.{w}" for i in range(2) for w in ("mlp.c_fc.weight", "mlp.c_proj.weight")}
    for name, lr in lrs.items():
        # embeddings (and with them the tied head), LayerNorms and biases keep SP's rate
        assert lr == pytest.approx(1e-2 / m if is_hidden(name) else 1e-2), name
    assert any(".bias" in n for n in lrs) and any(".ln_" in n for n in lrs) and "transformer.wte.weight" in lrs


@pytest.mark.parametrize("m", [1, 4])
def test_hidden_init_std_is_sps_over_root_m_and_the_rest_is_sps(m):
    sp, mu = built(BASE.replace(n_embd=32 * m)), built(mup(m))  # the same shapes, the same draws
    for (name, a), (_, b) in zip(sp.named_parameters(), mu.named_parameters(), strict=True):
        expected = a / math.sqrt(m) if is_hidden(name) else a
        assert torch.allclose(b, expected, rtol=1e-6, atol=0), name
    # measured on the weights: GPT-2's 0.02, and 0.02/sqrt(2·n_layer) on the residual projections
    fc, proj = mu.transformer.h[0].mlp.c_fc.weight, mu.transformer.h[0].mlp.c_proj.weight
    assert fc.std().item() == pytest.approx(0.02 / math.sqrt(m), rel=0.05)
    assert proj.std().item() == pytest.approx(0.02 / math.sqrt(4) / math.sqrt(m), rel=0.05)
    assert mu.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("m, alpha", [(1, 1.0), (1, 2.5), (4, 1.0), (4, 2.5)])
def test_logits_are_multiplied_by_output_alpha_over_m_in_training_and_sampling(m, alpha):
    model = built(mup(m, mup_output_alpha=alpha))
    assert model.output_scale == pytest.approx(alpha / m)
    x = tokens()
    logits, last = model(x, x)[0], model(x)[0]
    model.output_scale = 1.0
    assert torch.allclose(logits, model(x, x)[0] * alpha / m, rtol=1e-5, atol=1e-7)
    assert torch.allclose(last, model(x)[0] * alpha / m, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("m", [1, 4])
def test_attention_logits_are_scaled_by_one_over_d_head(m):
    model = built(mup(m))
    attn = model.transformer.h[0].attn
    d_head = 32 * m // 2
    assert attn.scale == pytest.approx(1.0 / d_head)
    x = torch.randn(2, 8, 32 * m, generator=torch.Generator().manual_seed(2))
    q, k, v = (t.view(2, 8, 2, d_head).transpose(1, 2) for t in attn.c_attn(x).split(32 * m, dim=2))
    scores = (q @ k.transpose(-2, -1)) / d_head  # written out: no SDPA default can stand in for it
    scores = scores.masked_fill(torch.ones(8, 8).tril() == 0, float("-inf"))
    y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(2, 8, 32 * m)
    assert torch.allclose(attn(x), attn.c_proj(y), atol=1e-6)


@pytest.mark.parametrize("m, alpha", [(1, 3.0), (4, 0.5)])
def test_embedding_output_is_multiplied_by_input_alpha(m, alpha):
    model = built(mup(m, mup_input_alpha=alpha))
    seen = []
    model.transformer.drop.register_forward_hook(lambda mod, i, out: seen.append(out))
    x = tokens()
    model(x, x)
    wte, wpe = model.transformer.wte, model.transformer.wpe
    assert torch.allclose(seen[0], alpha * (wte(x) + wpe(torch.arange(16))))


def test_the_tied_embedding_stays_tied_under_mup():
    model = built(mup(4))
    assert model.lm_head.weight is model.transformer.wte.weight


def test_the_trainer_sets_each_groups_rate_times_its_scale(tmp_path):
    cfg = mup(2, device="cpu", max_iters=1, eval_interval=1, eval_iters=1, warmup_iters=0, decay_lr=False)
    cfg = cfg.replace(batch_size=2, learning_rate=4e-3, threads=1)
    data = np.random.default_rng(0).integers(0, VOCAB, 2048).astype(np.uint16)
    trainer = Trainer(cfg, data, data, VOCAB)
    trainer.train()
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([2e-3, 4e-3, 4e-3])
    # a checkpoint carries the scales, so a resumed µP run keeps them
    fresh = GPT(cfg, VOCAB).configure_optimizer(0.1, 1.0, (0.9, 0.99), "cpu")
    fresh.load_state_dict(trainer.optimizer.state_dict())
    assert [g["lr_scale"] for g in fresh.param_groups] == [0.5, 1.0, 1.0]


# -- the coordinate check ------------------------------------------------------------------------

CHECK = CoordCheck(steps=10, seeds=(0, 1))
WIDTHS = (32, 64, 128)  # m from 1 to 4
# Measured here: µP's worst spread is 1.29 (block 1, just after the first step) and under 1.05 at the
# last step. Without the hidden init rule it is 1.99, without the logit multiplier 3.98, without the
# hidden learning rate 13.1; without the attention scale 1.29, as with it (see the end of this file).
FLAT = 1.5


@pytest.fixture(scope="module")
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums on any machine, and no fight for two shared cores
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_mup_coordinates_stay_flat_across_widths(torch_threads):
    result = coord_check(CHECK, WIDTHS, "mup")
    spread, step, name = worst_spread(result)
    assert spread < FLAT, f"{name} at step {step}: {spread:.2f}x between widths {WIDTHS[0]} and {WIDTHS[-1]}"
    assert all(0.5 < r < 2.0 for r in growth(result).values())  # the criterion, at the last step


@pytest.mark.slow
def test_sp_coordinates_grow_with_width(torch_threads):
    last = growth(coord_check(CHECK, WIDTHS, "sp"))
    assert last["block 0"] > 3 and last["block 1"] > 3  # measured: about 8x from width 32 to 128
    assert last["logits"] > 1.3  # measured: about 1.7x


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["hidden init std/√m", "hidden lr/m", "logits × alpha/m"])
def test_the_check_catches_a_dropped_rule(torch_threads, rule):
    spread, step, name = worst_spread(coord_check(CHECK, WIDTHS, "mup", tweak=WITHOUT_RULE[rule]))
    assert spread > FLAT, f"without {rule} the worst is {name} at step {step}: {spread:.2f}x"


# The attention scale (1/d_head) and the input multiplier are invisible to the check here: in ten steps
# attention stays near uniform whatever its scale (even at widths 64 to 512, benchmarks/mup_check.py
# measures 1.34x at the last step without it, against µP's 1.13x: too close to call), and
# alpha_input = 1 multiplies by one. Each is pinned directly above instead:
# test_attention_logits_are_scaled_by_one_over_d_head, test_embedding_output_is_multiplied_by_input_alpha
# and test_at_m_1_the_logits_differ_from_sp_by_the_attention_scale_alone.
