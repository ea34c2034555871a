"""Estimates against values worked out by hand."""

from __future__ import annotations

import pytest

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.config import DEFAULTS


def test_padded_vocab_rounds_up_to_64():
    assert [est.padded_vocab(v) for v in (1, 64, 65, 256, 50257)] == [64, 64, 128, 256, 50304]


def test_param_count_of_a_tiny_model_by_hand():
    # n_layer 1, n_embd 8, block 4, vocab 64, no bias:
    # wte 64*8=512, wpe 4*8=32, block 12*64 + 2*8 = 784, ln_f 8 -> 1336
    c = DEFAULTS.replace(n_layer=1, n_head=2, n_embd=8, block_size=4, bias=False)
    assert est.param_count(c, 64) == 1336
    # biases: per block 11*8 = 88, ln_f bias 8
    assert est.param_count(c.replace(bias=True), 64) == 1336 + 88 + 8
    assert est.non_embedding_count(c, 64) == 1336 - 32


def test_gpt2_124m_matches_nanogpt():
    c = cfgmod.preset("gpt2-124m")
    # nanoGPT, bias=False, vocab 50304: wte 38,633,472 + wpe 786,432 + 12 blocks of 7,079,424 + ln_f 768
    assert est.param_count(c, 50257) == 38_633_472 + 786_432 + 12 * 7_079_424 + 768
    assert est.non_embedding_count(c, 50257) == 123_587_328  # nanoGPT prints 123.59M


def test_flops_per_token_by_hand():
    c = DEFAULTS.replace(n_layer=1, n_head=2, n_embd=8, block_size=4, bias=False)
    n = est.non_embedding_count(c, 64)
    assert est.flops_per_token(c, 64) == 6 * n + 12 * 1 * 2 * 4 * 4


def test_tokens_per_iter_and_time():
    c = cfgmod.preset("seed-baseline")
    assert est.tokens_per_iter(c) == 12 * 4 * 512
    assert est.train_seconds(c, tokens_per_s=24_576) == pytest.approx(c.max_iters)


def test_memory_estimate_by_hand():
    c = DEFAULTS.replace(n_layer=2, n_head=2, n_embd=8, block_size=4, batch_size=3, dropout=0.0)
    m = est.memory_estimate(c, 64, "float32")
    n = est.param_count(c, 64)
    assert (m.weights, m.gradients, m.optimizer) == (4 * n, 4 * n, 8 * n)
    tokens = 3 * 4
    assert m.activations == 2 * tokens * 8 * 16 * 4 + tokens * 8 * 4
    assert m.logits == tokens * 64 * 8
    half = est.memory_estimate(c, 64, "bfloat16")
    assert half.activations < m.activations and half.weights == m.weights
    assert m.total == m.weights + m.gradients + m.optimizer + m.activations + m.logits


def test_memory_grows_with_micro_batch_not_accumulation():
    c = cfgmod.preset("seed-baseline")
    a = est.memory_estimate(c, 50257, "bfloat16").total
    assert est.memory_estimate(c.replace(gradient_accumulation_steps=8), 50257, "bfloat16").total == a
    assert est.memory_estimate(c.replace(batch_size=24), 50257, "bfloat16").total > a


def test_seed_deeper_is_about_160m_parameters():
    n = est.param_count(cfgmod.preset("seed-deeper"), est.TOKENIZER_VOCAB["gpt2"])
    assert 150e6 < n < 165e6


@pytest.mark.parametrize(
    "name,peak",
    [
        ("NVIDIA H100 80GB HBM3", 989.5e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A10G", 70e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA GeForce RTX 4090", 165.2e12),
        ("NVIDIA H200", 989.5e12),
        ("Some Future GPU", None),
    ],
)
def test_peak_flops_by_device_name(name, peak):
    assert est.peak_flops_for(name) == peak


def test_human_formats():
    assert est.human_count(124_373_760) == "124.37M"
    assert est.human_bytes(3 * 2**30) == "3.00 GiB"
    assert [est.human_seconds(s) for s in (5, 125, 7300, 90000)] == ["5s", "2m05s", "2h01m", "1d01h"]
