"""Sweep specs, distributions, expansion and the seed's batch/LR rules: pure, and checked exhaustively."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.sweeps import distributions as dist
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw
from engine.sweeps.distributions import Choice, IntRange, LogUniform, Uniform

FLOAT_FIELDS = [n for n in cfgmod.FIELDS if cfgmod.field_type(n) is float]
INT_FIELDS = [n for n in cfgmod.FIELDS if cfgmod.field_type(n) is int]
TINY = dict(
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=32,
    batch_size=8,
    max_iters=40,
    eval_interval=10,
    eval_iters=2,
    log_interval=1,
    warmup_iters=5,
    learning_rate=3e-3,
    min_lr=3e-4,
    threads=1,
    device="cpu",
    seed=3,
)

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def ranges(draw):
    """(name, distribution) of every kind, with typed, ordered bounds."""
    kind = draw(st.sampled_from(["choice", "uniform", "log", "int"]))
    if kind == "int":
        lo, hi = sorted(draw(st.lists(st.integers(-(10**6), 10**6), min_size=2, max_size=2)))
        return draw(st.sampled_from(INT_FIELDS)), IntRange(lo, hi)
    if kind == "choice":
        name = draw(st.sampled_from(FLOAT_FIELDS))
        values = draw(st.lists(finite, min_size=1, max_size=6, unique=True))
        return name, Choice(tuple(float(v) for v in values))
    lo, hi = sorted(draw(st.lists(st.floats(1e-9, 1e6), min_size=2, max_size=2)))
    return draw(st.sampled_from(FLOAT_FIELDS)), (LogUniform(lo, hi) if kind == "log" else Uniform(lo, hi))


# -- distributions ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(ranges())
def test_a_distribution_reads_back_from_its_cli_text_and_its_toml_form(item):
    name, d = item
    assert dist.parse(name, d.text()) == d
    back, problem = dist.from_toml_value(name, dist.to_toml_value(d))
    assert problem is None and back == d


@settings(max_examples=300, deadline=None)
@given(ranges(), st.integers(0, 2**32), st.integers(0, 10_000))
def test_every_draw_is_inside_the_distribution(item, seed, k):
    _, d = item
    value = dist.sample(d, random.Random(f"{seed}:{k}"))
    assert dist.contains(d, value)


def test_the_four_cli_forms():
    assert dist.parse("learning_rate", "1e-4,3e-4,6e-4") == Choice((1e-4, 3e-4, 6e-4))
    assert dist.parse("dropout", "0:0.2") == Uniform(0.0, 0.2)
    assert dist.parse("learning_rate", "log:1e-4:1e-3") == LogUniform(1e-4, 1e-3)
    assert dist.parse("n_layer", "int:8:16") == IntRange(8, 16)
    assert dist.parse("n_layer", "8:16") == IntRange(8, 16)  # a range of an integer field is integers
    assert dist.parse("batch_size", "12,16") == Choice((12, 16))
    assert dist.parse("bias", "true,false") == Choice((True, False))
    assert dist.parse("device", "cpu,cuda:0") == Choice(("cpu", "cuda:0"))  # text never reads as a range


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("learning_rate", "log:1e-4", "must look like log:LO:HI"),
        ("learning_rate", "1e-3:1e-4", "the low end 0.001 is above the high end 0.0001"),
        ("learning_rate", "", "no values given"),
        ("learning_rate", ",,", "no values given"),
        ("learning_rate", "log:0:1e-3", "must start above 0"),
        ("learning_rate", "fast,slow", "must be a number"),
        ("n_layer", "log:4:16", "write n_layer=int:LO:HI"),
        ("dropout", "int:0:1", "needs an integer field"),
        ("n_layer", "8,8", "lists a value twice"),
        ("lerning_rate", "1e-4", "did you mean 'learning_rate'"),
    ],
)
def test_bad_distribution_text_names_the_field_and_what_to_write(name, text, words):
    d, problem = dist.parse_problem(name, text)
    assert d is None and problem.field == name and words in problem.message


def test_parse_params_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as e:
        sw.parse_params(["lerning_rate=1e-4", "dropout=0.3:0.1", "n_layer", "n_layer=2,4", "n_layer=3"])
    assert [p.field for p in e.value.problems] == ["lerning_rate", "dropout", "n_layer", "n_layer"]


# -- the seed's rules -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 64), st.integers(1, 16), st.data())
def test_keep_effective_batch_keeps_batch_times_accumulation(base_batch, base_acc, data):
    effective = base_batch * base_acc
    batch = data.draw(st.sampled_from(sp.divisors(effective)))
    assert batch * sp.kept_accumulation(base_batch, base_acc, batch) == effective
    other = data.draw(st.integers(1, 256))
    acc = sp.kept_accumulation(base_batch, base_acc, other)
    assert (acc is None) == (effective % other != 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 4096))
def test_lr_scaling_is_linear_or_square_root_in_the_effective_batch(base, new):
    assert sp.lr_factor("none", base, new) == 1.0
    assert sp.lr_factor("linear", base, new) == pytest.approx(new / base)
    assert sp.lr_factor("sqrt", base, new) == pytest.approx(math.sqrt(new / base))
    assert sp.lr_factor("sqrt", base, base) == sp.lr_factor("linear", base, base) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24, 48]),
    st.sampled_from(sw.LR_SCALINGS),
    st.floats(1e-5, 1e-2),
    st.booleans(),
)
def test_trial_mapping_applies_both_rules_from_the_base(batch, rule, lr, keep):
    base = cfgmod.preset("seed-baseline")  # 48 (12x4), LR 6e-4, min_lr 6e-5
    m = sp.trial_mapping(base, {"batch_size": batch, "learning_rate": lr}, keep, rule)
    effective = batch * m.get("gradient_accumulation_steps", base.gradient_accumulation_steps)
    if keep:
        assert effective == 48
    factor = sp.lr_factor(rule, 48, effective)
    assert m["learning_rate"] == pytest.approx(lr * factor)
    assert m["min_lr"] / m["learning_rate"] == pytest.approx(0.1)  # min_lr follows at the base's ratio


def test_keep_effective_batch_reports_a_batch_that_cannot_keep_it():
    with pytest.raises(ValueError, match="does not divide the effective batch 48"):
        sp.trial_mapping(cfgmod.preset("seed-baseline"), {"batch_size": 10}, keep_effective_batch=True)


# -- expansion ----------------------------------------------------------------------------

choice_params = st.dictionaries(
    st.sampled_from(["n_layer", "n_embd", "batch_size", "max_iters"]),
    st.lists(st.integers(1, 99), min_size=1, max_size=4, unique=True).map(lambda v: Choice(tuple(v))),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(choice_params)
def test_grid_is_every_combination_once_in_a_fixed_order(params):
    points = list(sp.grid(params))
    expected = [dict(zip(params, combo)) for combo in itertools.product(*(d.values for d in params.values()))]
    assert points == expected
    assert len(points) == sp.grid_size(params) == math.prod(len(d.values) for d in params.values())


@settings(max_examples=200, deadline=None)
@given(choice_params, st.integers(0, 2**31))
def test_random_search_of_a_discrete_space_never_repeats_until_it_is_used_up(params, seed):
    size = sp.grid_size(params)
    draws = [sp.random_draw(params, seed, k) for k in range(size + 1)]
    assert draws[-1] is None
    assert sorted(map(repr, draws[:-1])) == sorted(map(repr, sp.grid(params)))


@settings(max_examples=200, deadline=None)
@given(st.lists(ranges(), min_size=1, max_size=4), st.integers(0, 2**31), st.integers(0, 1000))
def test_random_draw_k_is_a_function_of_seed_and_k_alone(items, seed, k):
    params = dict(items)
    first = sp.random_draw(params, seed, k)
    sp.random_draw(params, seed, k + 1)  # drawing others in between changes nothing
    assert sp.random_draw(params, seed, k) == first
    assert first is None or all(dist.contains(params[n], v) for n, v in first.items())


# -- plans and specs ----------------------------------------------------------------------


def spec(**changes) -> sw.SweepSpec:
    fields = dict(id="s", method="grid", params={"learning_rate": Choice((1e-3, 3e-3))}, base=dict(TINY))
    return sw.SweepSpec(**{**fields, **changes})


def test_an_invalid_combination_is_skipped_with_its_reason():
    plan = sp.plan(spec(params={"n_head": Choice((2, 3, 4))}))
    assert [t.config["n_head"] for t in plan.trials] == [2, 4]
    assert [t.number for t in plan.trials] == [1, 2]
    assert len(plan.skipped) == 1 and "divisible by n_head" in plan.skipped[0].reason


def test_a_sweep_with_no_valid_trial_is_refused():
    with pytest.raises(ConfigError, match="no valid trial"):
        sp.plan(spec(params={"n_head": Choice((3, 5))}))


def test_max_trials_caps_a_grid_in_its_order():
    plan = sp.plan(spec(params={"learning_rate": Choice((1e-3, 2e-3, 3e-3))}, max_trials=2))
    assert [t.params["learning_rate"] for t in plan.trials] == [1e-3, 2e-3]


def test_random_search_draws_past_invalid_combinations_to_reach_n():
    plan = sp.plan(spec(method="random", n_trials=5, params={"n_head": IntRange(1, 8), "dropout": Uniform(0, 0.2)}))
    assert len(plan.trials) == 5 and all(32 % t.config["n_head"] == 0 for t in plan.trials)


@pytest.mark.parametrize(
    "changes,field",
    [
        (dict(method="grid", params={"dropout": Uniform(0, 0.2)}), "dropout"),
        (dict(method="random", n_trials=0), "n_trials"),
        (dict(method="bayes"), "method"),
        (dict(params={}), "params"),
        (dict(id="Has Spaces"), "name"),
        (dict(scale_lr_with_batch="cubic"), "scale_lr_with_batch"),
        (dict(early_stopping=sw.EarlyStopping("medain")), "early_stopping"),
        (
            dict(keep_effective_batch=True, params={"gradient_accumulation_steps": Choice((1, 2))}),
            "gradient_accumulation_steps",
        ),
        (dict(method="tpe", n_trials=3, params={"dropout": Uniform(0, 1.5)}), "dropout"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_setting(changes, field):
    with pytest.raises(ConfigError) as e:
        sp.plan(spec(**changes))
    assert field in [p.field for p in e.value.problems]


specs = st.builds(
    sw.SweepSpec,
    id=st.from_regex(r"[a-z0-9][a-z0-9-]{0,17}", fullmatch=True),
    method=st.sampled_from(["grid", "random", "tpe"]),
    params=st.lists(ranges(), min_size=1, max_size=3).map(dict),
    base=st.just(dict(TINY)),
    preset=st.sampled_from(["", "quickstart"]),
    n_trials=st.integers(0, 100),
    seed=st.integers(0, 2**31),
    keep_effective_batch=st.booleans(),
    scale_lr_with_batch=st.sampled_from(sw.LR_SCALINGS),
    early_stopping=st.builds(
        sw.EarlyStopping, st.sampled_from(sw.RULES), st.integers(1, 9), st.integers(0, 500), st.integers(2, 5)
    ),
    max_trials=st.integers(0, 50),
    max_total_seconds=st.floats(0, 1e6),
    parallel=st.integers(1, 8),
)


@settings(max_examples=200, deadline=None)
@given(specs)
def test_a_spec_survives_its_toml_round_trip(s):
    assert sw.from_toml(sw.to_toml(s), check=False) == s


def test_a_list_sweep_reads_its_trials_from_toml():
    s = sw.from_toml('method = "list"\npreset = "quickstart"\n[[trial]]\n[[trial]]\nn_layer = 6\n', default_id="x")
    assert s.trials == ({}, {"n_layer": 6}) and s.swept == ["n_layer"]
    assert [t.config["n_layer"] for t in sp.plan(s).trials] == [4, 6]


def test_a_typo_in_a_sweep_file_is_named():
    with pytest.raises(ConfigError) as e:
        sw.from_toml('method = "grid"\nn_trails = 3\n[params]\nlerning_rate = [1e-3]\n', default_id="x")
    assert {p.field: p.message for p in e.value.problems} == {
        "n_trails": "unknown sweep setting; did you mean 'n_trials'?",
        "lerning_rate": "unknown hyperparameter; did you mean 'learning_rate'?",
    }
