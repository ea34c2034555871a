"""The rules of RunConfig about µP: the parametrization and its settings (engine.train.model applies them)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.core.device_rules import Rule, rule_into
from engine.core.fields import DEFAULTS, PARAMETRIZATIONS, DeviceCaps, Problem, RunConfig, suggest

MUP_RULES: list[Rule] = []
rule = rule_into(MUP_RULES)


_MUP_FIELDS = ("mup_base_width", "mup_input_alpha", "mup_output_alpha")


@rule("parametrization")
def _parametrization(c, caps):
    if c.parametrization not in PARAMETRIZATIONS:
        yield Problem(
            "parametrization",
            f"unknown parametrization {c.parametrization!r}{suggest(c.parametrization, PARAMETRIZATIONS)}; "
            "choose 'sp' (standard) or 'mup' (µP)",
        )


@rule("parametrization", *_MUP_FIELDS)
def _mup_settings_without_mup(c, caps):
    """A µP setting under "sp" would be silently ignored: the run would not be the one asked for."""
    if c.parametrization != "sp":
        return
    for name in _MUP_FIELDS:
        if getattr(c, name) != getattr(DEFAULTS, name):
            yield Problem(
                name,
                f"{name} = {getattr(c, name)!r} is a µP setting, but parametrization is 'sp'; "
                f"set parametrization = 'mup' to use it, or remove {name}",
            )


@rule("parametrization", "mup_base_width", "n_embd", "n_head")
def _mup_base_width(c, caps):
    base, width, heads = c.mup_base_width, c.n_embd, c.n_head
    if c.parametrization != "mup" or base < 1 or width < 1 or heads < 1:
        return  # 0 means n_embd; below 0 and a bad shape are reported by the rules above
    if base > width:
        yield Problem(
            "mup_base_width",
            f"mup_base_width ({base}) is wider than n_embd ({width}); µP carries hyperparameters from a narrow "
            f"base to wider models: give the width you tuned at, at most {width} (or 0 for n_embd itself)",
        )
    elif base % heads:
        near = min(max(heads, round(base / heads) * heads), width // heads * heads)
        yield Problem(
            "mup_base_width",
            f"mup_base_width ({base}) is not a multiple of n_head ({heads}), so no base model of that width has "
            f"{heads} heads; try mup_base_width={near}",
        )


for _name in ("mup_input_alpha", "mup_output_alpha"):

    def _alpha(c: RunConfig, caps: DeviceCaps | None, _n: str = _name) -> Iterable[Problem]:
        if not math.isfinite(getattr(c, _n)) or getattr(c, _n) <= 0:
            yield Problem(_n, f"must be above 0, got {getattr(c, _n)}; 1.0 leaves the model as µP has it")

    MUP_RULES.append(((_name,), _alpha))
