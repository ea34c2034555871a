"""A proxy sweep (µTransfer): its trials train at a narrow width under µP with that width as µP's base
(m = 1), so that their best values hold unchanged at the full width (engine.sweeps.transfer). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.core import config as cfgmod
from engine.core.bounds import out_of_bounds
from engine.core.config import ConfigError, Problem
from engine.store.fieldcheck import shown

# What a proxy may narrow: the width, and the head count where the base's does not divide it. Depth and
# context stay the base's: µP carries hyperparameters across width, not across those.
PROXY_FIELDS = ("n_embd", "n_head")
# A proxy sweep tunes at one width under µP: sweeping any of these would undo what the proxy sets.
FIXED_BY_PROXY = ("n_embd", "n_head", "parametrization", "mup_base_width")


def proxy_problems(proxy: Any, swept: Iterable[str] = ()) -> list[Problem]:
    """Every problem with a [transfer] proxy on its own (its fit with the base is at_proxy's)."""
    if not isinstance(proxy, Mapping):
        return [Problem("proxy", f"must be a table such as {{ n_embd = 128 }}, got {shown(proxy)}")]
    if not proxy:
        return []
    out = [
        Problem(
            "proxy",
            f"{k!r} is not a width: a proxy sets n_embd (and n_head where the base's does not divide it); "
            "depth, context and the rest stay the base's",
        )
        for k in proxy
        if k not in PROXY_FIELDS
    ]
    if "n_embd" not in proxy:
        out.append(
            Problem("proxy", "give the proxy's width, e.g. --proxy n_embd=128 ([transfer] proxy = { n_embd = 128 })")
        )
    for name in PROXY_FIELDS:
        if name not in proxy:
            continue
        value = proxy[name]
        if type(value) is not int or out_of_bounds(name, value):
            why = out_of_bounds(name, value) if type(value) is int else "a whole number"
            out.append(Problem("proxy", f"{name} = {shown(value)} must be {why}"))
    out.extend(
        Problem(name, f"a proxy sweep trains every trial at the proxy's width under µP; do not sweep {name}")
        for name in swept
        if name in FIXED_BY_PROXY
    )
    return out


def proxy_overrides(proxy: Mapping[str, Any]) -> dict[str, Any]:
    """What a proxy changes in the base: its width, µP, and µP's base at that width (m = 1)."""
    return {**proxy, "parametrization": "mup", "mup_base_width": proxy["n_embd"]}


def at_proxy(
    base: cfgmod.RunConfig, proxy: Mapping[str, Any], caps: cfgmod.DeviceCaps | None = None, source: str = ""
) -> cfgmod.RunConfig:
    """The base at the proxy's width under µP; ConfigError says why a proxy does not fit the base."""
    problems = proxy_problems(proxy)
    if problems:
        raise ConfigError(problems, source)
    width, heads = proxy["n_embd"], proxy.get("n_head", base.n_head)
    if width > base.n_embd:
        raise ConfigError(
            [
                Problem(
                    "proxy",
                    f"the proxy's n_embd {width} is wider than the base's {base.n_embd}: a proxy is the narrow "
                    "model the values are tuned on; give a smaller width",
                )
            ],
            source,
        )
    if heads < 1 or width % heads:
        near = max(heads, round(width / max(heads, 1)) * heads)
        raise ConfigError(
            [
                Problem(
                    "proxy",
                    f"n_head {heads} does not divide the proxy's n_embd {width}, so no model of that width has "
                    f"{heads} heads; give a width that is a multiple of {heads} (e.g. n_embd={near}) or the proxy's "
                    f"own head count (e.g. --proxy n_head={_divisor_near(width, heads)})",
                )
            ],
            source,
        )
    return cfgmod.from_mapping(proxy_overrides(proxy), base, caps, source)


def _divisor_near(width: int, heads: int) -> int:
    """The head count nearest `heads` that divides `width` (searched near it: a width from a hostile
    file may be huge); 1 divides every width."""
    near = (d for step in range(64) for d in (heads + step, heads - step) if 1 <= d <= width and width % d == 0)
    return next(near, 1)


def describe(proxy: Mapping[str, Any], full_width: int) -> str:
    """The proxy in words, for the plan, `sweep show` and the sweep screen."""
    heads = f", n_head {proxy['n_head']}" if "n_head" in proxy else ""
    return (
        f"µP proxy at n_embd {proxy['n_embd']}{heads} (mup_base_width {proxy['n_embd']}, m = 1) "
        f"for the base's n_embd {full_width}"
    )
