"""µP's settings as a person gives them: defaults, the width multiplier, every mistake named by its
field with the fix, files and overrides, and the estimates that show m (pure: no torch, no Textual)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.config import DEFAULTS, ConfigError

MUP = DEFAULTS.replace(parametrization="mup", n_embd=256, n_head=4, mup_base_width=64)


def problems(c: cfgmod.RunConfig) -> dict[str, str]:
    return {p.field: p.message for p in cfgmod.validate(c)}


def test_the_default_is_sp_with_mup_settings_at_their_neutral_values():
    assert (DEFAULTS.parametrization, DEFAULTS.mup_base_width) == ("sp", 0)
    assert (DEFAULTS.mup_input_alpha, DEFAULTS.mup_output_alpha) == (1.0, 1.0)
    assert DEFAULTS.width_multiplier == 1.0 and problems(DEFAULTS) == {}


def test_width_multiplier_is_n_embd_over_the_base_and_base_0_means_this_width():
    assert problems(MUP) == {} and MUP.width_multiplier == 4.0
    assert MUP.replace(mup_base_width=0).width_multiplier == 1.0
    assert MUP.replace(mup_base_width=256).width_multiplier == 1.0


def test_a_base_wider_than_n_embd_is_refused_with_the_widest_allowed():
    message = problems(MUP.replace(mup_base_width=512))["mup_base_width"]
    assert "wider than n_embd (256)" in message and "at most 256" in message


def test_a_base_that_no_model_with_n_head_heads_has_is_refused_with_one_that_is():
    message = problems(MUP.replace(mup_base_width=66))["mup_base_width"]
    assert "not a multiple of n_head (4)" in message and "mup_base_width=64" in message
    assert problems(MUP.replace(mup_base_width=64)) == {}


@pytest.mark.parametrize("field, value", [("mup_base_width", 64), ("mup_input_alpha", 2.0), ("mup_output_alpha", 0.5)])
def test_a_mup_setting_under_sp_is_refused_naming_the_field_and_the_fix(field, value):
    message = problems(DEFAULTS.replace(**{field: value}))[field]
    assert "parametrization is 'sp'" in message and "parametrization = 'mup'" in message


def test_under_sp_only_the_mismatch_is_reported_not_what_mup_would_think_of_the_base():
    assert set(problems(DEFAULTS.replace(mup_base_width=100_000))) == {"mup_base_width"}


def test_an_unknown_parametrization_suggests_the_closest():
    message = problems(DEFAULTS.replace(parametrization="mu"))["parametrization"]
    assert "did you mean 'mup'" in message


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_an_alpha_must_be_above_zero(value):
    assert "must be above 0" in problems(MUP.replace(mup_output_alpha=value))["mup_output_alpha"]


def test_overrides_and_toml_carry_the_mup_settings():
    sets = ["parametrization=mup", "n_embd=256", "n_head=4", "mup_base_width=64", "mup_output_alpha=2"]
    c = cfgmod.resolve(None, None, sets)
    assert (c.parametrization, c.mup_base_width, c.mup_output_alpha, c.width_multiplier) == ("mup", 64, 2.0, 4.0)
    assert cfgmod.from_toml(cfgmod.to_toml(c)) == c
    with pytest.raises(ConfigError) as e:
        cfgmod.resolve(None, None, ["mup_input_alpha=inf"])
    assert "a finite number above 0" in str(e.value)


def test_fields_lists_the_mup_settings_with_help():
    names = cfgmod.fields_in_group("model shape")
    for name in ("parametrization", "mup_base_width", "mup_input_alpha", "mup_output_alpha"):
        assert name in names and cfgmod.field_help(name).strip()


def test_estimates_show_m_under_mup_and_keep_size_and_flops():
    assert est.width_multiplier_text(DEFAULTS) is None
    assert est.width_multiplier_text(MUP) == "m = 4 (n_embd 256 / base 64)"
    assert est.width_multiplier_text(MUP.replace(mup_base_width=0)) == "m = 1 (n_embd 256 / base 256)"
    sp = MUP.replace(parametrization="sp", mup_base_width=0)
    assert est.param_count(MUP, 100) == est.param_count(sp, 100)
    assert est.flops_per_token(MUP, 100) == est.flops_per_token(sp, 100)


def test_gpt_tui_estimate_prints_m():
    from tui.cli.config import estimate_table

    out = io.StringIO()
    Console(file=out, width=200).print(estimate_table(MUP, 100, None))
    assert "m = 4 (n_embd 256 / base 64)" in out.getvalue()
    out = io.StringIO()
    Console(file=out, width=200).print(estimate_table(DEFAULTS, 100, None))
    assert "parametrization" not in out.getvalue()
