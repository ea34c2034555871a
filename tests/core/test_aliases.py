"""Other trainers' names for the hyperparameters are suggested, never silently taken: in a config,
in `--set`, and in a sweep's parameters."""

from __future__ import annotations

import pytest

from engine.core import config as cfgmod
from engine.core.aliases import ALIASES
from engine.core.config import ConfigError
from tests.tui.test_cli import gpt_tui, tree


def only_problem(mapping: dict) -> str:
    with pytest.raises(ConfigError) as e:
        cfgmod.from_mapping(mapping)
    (problem,) = e.value.problems
    return str(problem)


@pytest.mark.parametrize(
    "alias,field",
    [
        ("lr", "learning_rate"),
        ("bs", "batch_size"),
        ("batch", "batch_size"),
        ("grad_accum", "gradient_accumulation_steps"),
        ("gradient_accumulation", "gradient_accumulation_steps"),
        ("n_heads", "n_head"),
        ("n_layers", "n_layer"),
        ("n_embed", "n_embd"),
        ("context_length", "block_size"),
        ("max_steps", "max_iters"),
        ("warmup_steps", "warmup_iters"),
        ("wd", "weight_decay"),
        # the lesson's train.py globals, in capitals
        ("LEARNING_RATE", "learning_rate"),
        ("BATCH_SIZE", "batch_size"),
        ("GRADIENT_ACCUMULATION_STEPS", "gradient_accumulation_steps"),
    ],
)
def test_a_common_alias_is_refused_with_the_field_it_means(alias, field):
    assert only_problem({alias: 3}).startswith(f"{alias}: unknown hyperparameter; did you mean {field!r}?")


def test_an_ambiguous_alias_says_what_else_it_could_mean():
    assert "the effective batch is batch_size x gradient_accumulation_steps" in only_problem({"batch": 48})
    assert "warmup_iters and lr_decay_iters are steps too" in only_problem({"steps": 100})


def test_every_alias_names_a_real_field_and_none_is_a_field():
    assert all(field in cfgmod.FIELDS for field, _ in ALIASES.values())
    assert not set(ALIASES) & set(cfgmod.FIELDS)


def test_a_misspelling_that_is_no_alias_still_gets_the_closest_field():
    assert "did you mean 'learning_rate'?" in only_problem({"lerning_rate": 1e-3})
    assert "`gpt-tui fields` lists them" in only_problem({"zzz": 1})


def test_set_lr_suggests_learning_rate_and_queues_nothing(tmp_path):
    runs = tmp_path / "runs"
    out = gpt_tui("run", "--set", "lr=3e-4", "--no-engine", store=runs)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "lr: unknown hyperparameter; did you mean 'learning_rate'?" in " ".join(out.stderr.split())
    assert not any(name.startswith("queue/") for name in tree(runs))


def test_a_sweep_over_an_alias_suggests_the_field(tmp_path):
    out = gpt_tui("sweep", "grid", "bs=8,16", "--dry-run", store=tmp_path / "runs")
    assert out.returncode == 2 and "did you mean 'batch_size'?" in " ".join(out.stderr.split())
