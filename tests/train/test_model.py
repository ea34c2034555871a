"""The GPT: its size agrees with the estimates, its shapes, its loss at init and its sampling."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import estimate
from engine.core.config import RunConfig, preset
from engine.train.model import GPT

TINY = RunConfig(n_layer=2, n_head=2, n_embd=32, block_size=16)


def unique_param_count(model: torch.nn.Module) -> int:
    seen = {id(p): p for p in model.parameters()}  # the tied head is one tensor
    return sum(p.numel() for p in seen.values())


@st.composite
def shapes(draw) -> RunConfig:
    n_head = draw(st.integers(1, 4))
    return RunConfig(
        n_layer=draw(st.integers(1, 3)),
        n_head=n_head,
        n_embd=n_head * draw(st.integers(1, 8)),
        block_size=draw(st.integers(1, 64)),
        bias=draw(st.booleans()),
    )


@settings(max_examples=40, deadline=None)
@given(cfg=shapes(), vocab=st.integers(1, 300))
def test_parameter_count_matches_the_estimate(cfg, vocab):
    with torch.device("meta"):
        model = GPT(cfg, vocab)
    assert unique_param_count(model) == estimate.param_count(cfg, vocab)
    assert model.num_params(non_embedding=False) == estimate.param_count(cfg, vocab)
    assert model.num_params(non_embedding=True) == estimate.non_embedding_count(cfg, vocab)


@pytest.mark.parametrize("bias, expected", [(False, 124_373_760), (True, 124_475_904)])
def test_gpt2_124m_preset_has_gpt2s_parameter_count(bias, expected):
    cfg = preset("gpt2-124m").replace(bias=bias)
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = GPT(cfg, estimate.TOKENIZER_VOCAB["gpt2"])
    assert unique_param_count(model) == estimate.param_count(cfg, 50257) == expected  # 50304 rows
    assert model.num_params() == estimate.non_embedding_count(cfg, 50257)
    assert model.transformer.wte.weight.shape == (50304, 768)


def test_lm_head_is_tied_to_the_token_embedding():
    model = GPT(TINY, 50)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_forward_shapes_with_and_without_targets():
    model = GPT(TINY, 50)
    idx = torch.randint(0, 50, (3, 10))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 10, 64) and loss.shape == ()
    logits, loss = model(idx)
    assert logits.shape == (3, 1, 64) and loss is None


def test_forward_refuses_a_sequence_longer_than_the_block():
    with pytest.raises(ValueError, match="block_size"):
        GPT(TINY, 50)(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("bias", [False, True])
def test_loss_at_init_is_about_log_vocab(bias):
    torch.manual_seed(0)
    model = GPT(TINY.replace(bias=bias), 64)
    idx = torch.randint(0, 64, (4, 16))
    _, loss = model(idx, torch.randint(0, 64, (4, 16)))
    assert loss.item() == pytest.approx(math.log(64), abs=0.1)


def test_residual_projections_are_scaled_by_depth():
    torch.manual_seed(0)
    model = GPT(RunConfig(n_layer=8, n_head=2, n_embd=64, block_size=8), 64)
    std = model.transformer.h[0].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(16), rel=0.1)


def test_optimizer_decays_matrices_only():
    model = GPT(TINY.replace(bias=True), 50)
    opt = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cpu")
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.dim() < 2 for p in no_decay["params"])
    assert sum(map(len, (decay["params"], no_decay["params"]))) == len(list(model.parameters()))


def test_generate_appends_max_new_tokens_and_crops_context():
    model = GPT(TINY, 50).eval()
    idx = torch.zeros(2, 3, dtype=torch.long)
    out = model.generate(idx, 20)  # past block_size: the context is cropped
    assert out.shape == (2, 23) and torch.equal(out[:, :3], idx)
    assert int(out.max()) < 50  # padded ids are never sampled
    assert model.generate(idx, 0).shape == (2, 3)


def test_stream_yields_one_token_per_row_at_a_time():
    model = GPT(TINY, 50).eval()
    tokens = list(model.stream(torch.zeros(1, 1, dtype=torch.long), 5, temperature=0))
    assert len(tokens) == 5 and all(t.shape == (1,) for t in tokens)
    greedy = model.generate(torch.zeros(1, 1, dtype=torch.long), 5, temperature=0)
    assert torch.equal(torch.stack(tokens, dim=1), greedy[:, 1:])


def test_top_k_one_is_greedy():
    torch.manual_seed(1)
    model = GPT(TINY, 50).eval()
    idx = torch.randint(0, 50, (2, 4))
    assert torch.equal(model.generate(idx, 8, temperature=1.0, top_k=1), model.generate(idx, 8, temperature=0))


def test_sampling_is_deterministic_under_a_seed():
    model = GPT(TINY, 50).eval()
    idx = torch.zeros(1, 1, dtype=torch.long)
    runs = [model.generate(idx, 12, temperature=1.5, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*runs)
    torch.manual_seed(3)
    a = model.generate(idx, 12, top_k=10)
    torch.manual_seed(3)
    assert torch.equal(a, model.generate(idx, 12, top_k=10))


def test_same_seed_builds_the_same_weights():
    torch.manual_seed(5)
    a = GPT(TINY, 50)
    torch.manual_seed(5)
    b = GPT(TINY, 50)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = GPT(TINY.replace(dropout=0.5), 50)
    idx = torch.randint(0, 50, (2, 8))
    model.eval()
    assert torch.equal(model(idx, idx)[0], model(idx, idx)[0])
    model.train()
    assert not torch.equal(model(idx, idx)[0], model(idx, idx)[0])


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    model = GPT(RunConfig(n_layer=1, n_head=2, n_embd=32, block_size=8), 16)
    opt = model.configure_optimizer(0.0, 1e-2, (0.9, 0.99), "cpu")
    x = torch.arange(8).repeat(4, 1) % 16
    y = (x + 1) % 16
    first = model(x, y)[1].item()
    for _ in range(30):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
